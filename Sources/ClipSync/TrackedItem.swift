import ClipWire

/// An item the engine knows of: the current item of a selection, an older one kept as the
/// base for deltas, or one still being read or served. Its bytes may be all here (`held`),
/// partly here (`assembly`, while a local reader or an eager fetch gathers them) or only at
/// the peers that offered it (`sources`).
final class TrackedItem {
    let header: ItemHeader
    let manifest: ItemManifest?
    /// Per representation, where each chunk starts, plus the end.
    let offsets: [[UInt64]]
    var held: ClipItem?
    var assembly: Assembly?
    /// Sessions that offered the item, first offer first: where its bytes can be fetched.
    var sources: [SessionID]
    /// Local readers (pastes, `clipd recv`) between `beginRead` and `endRead`.
    var readers = 0
    /// Sessions whose offer is acknowledged only once the bytes are here (eager fetches).
    var acksOnArrival: [SessionID] = []

    init(held item: ClipItem, sources: [SessionID]) {
        header = item.header
        manifest = item.manifest
        offsets = Self.offsets(header: item.header, manifest: item.manifest)
        held = item
        self.sources = sources
    }

    init(header: ItemHeader, manifest: ItemManifest, sources: [SessionID]) {
        self.header = header
        self.manifest = manifest
        offsets = Self.offsets(header: header, manifest: manifest)
        self.sources = sources
    }

    private static func offsets(header: ItemHeader, manifest: ItemManifest?) -> [[UInt64]] {
        guard let manifest else { return header.representations.map { [0, $0.size] } }
        return manifest.representations.indices.map { manifest.offsets(ofRepresentation: $0) }
    }

    var id: ItemID { header.id }

    /// The chunk of representation `rep` that holds byte `offset` (binary search).
    func chunkIndex(representation rep: Int, containing offset: UInt64) -> Int {
        let starts = offsets[rep]
        var low = 0, high = starts.count - 2
        while low < high {
            let middle = (low + high + 1) / 2
            if starts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The bytes of chunk `index` of `rep`, when this item has them.
    func ownChunk(representation rep: Int, index: Int) -> ArraySlice<UInt8>? {
        if let held { return held.pieces[rep][index] }
        return assembly?.pieces[rep][index]
    }
}

/// The chunks of an item gathered so far for local use; complete, they make the held item.
struct Assembly {
    var pieces: [[ArraySlice<UInt8>?]]
    /// Where each chunk still missing goes (a hash may occur at several places).
    var missing: [ChunkHash: [(representation: Int, index: Int)]]
    /// Bytes fetched for it from peers so far, and how many it needs from them in all.
    var fetched: UInt64 = 0
    var toFetch: UInt64 = 0
    var startedMilliseconds: UInt64
    /// Set when it cannot complete; readers see this line.
    var failure: String?
    var isComplete: Bool { missing.isEmpty }
}

/// A range this engine asked a peer for. It covers whole chunks of one representation.
struct UpstreamRequest {
    let id: UInt32
    let session: SessionID
    let item: ItemID
    let representation: Int
    let chunks: Range<Int>
    /// Byte offset of the first chunk, and the range's length.
    let start: UInt64
    let length: UInt64
    var received: UInt64 = 0
    /// The next chunk the bytes belong to, and its bytes so far when it spans records.
    var nextChunk: Int
    var partial: [UInt8] = []
    /// Who waits for it: the item's assembly, and serve jobs (by their key).
    var forAssembly: Bool
    var forJobs: Set<ServeJob.Key>
    /// The FETCH went out; until then the request waits its turn (`RequestQueue`).
    var sent = false
}

/// A range a peer asked this engine for, streamed as DATA records then DATA_END. Chunks the
/// engine does not have are fetched from the item's sources a window ahead of what was
/// sent, so a relay never holds much more than a window of an item it passes on.
final class ServeJob {
    struct Key: Hashable { let session: SessionID; let requestID: UInt32 }
    let key: Key
    let item: ItemID
    let representation: Int
    let start: UInt64
    let end: UInt64
    var position: UInt64
    /// Chunks fetched for this job and not yet sent.
    var arrived: [Int: ArraySlice<UInt8>] = [:]
    let startedMilliseconds: UInt64
    /// When bytes of it last went out (monotonic milliseconds), or when it was asked for.
    var lastSentMilliseconds: UInt64

    init(key: Key, item: ItemID, representation: Int, start: UInt64, end: UInt64, now: UInt64, monotonicNow: UInt64) {
        self.key = key
        self.item = item
        self.representation = representation
        self.start = start
        self.end = end
        position = start
        startedMilliseconds = now
        lastSentMilliseconds = monotonicNow
    }
}
