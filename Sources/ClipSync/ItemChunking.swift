import ClipWire

/// Makes the manifest of a local item: each representation cut by `ContentChunker`, each
/// chunk hashed. Pure; the daemon runs it off its event loop for large items.
public enum ItemChunking {
    /// Runs `body(i)` for every i in 0..<count, possibly at once on several threads; it
    /// returns when all are done.
    public typealias ParallelFor = @Sendable (_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> Void

    /// Runs the bodies one after the other.
    public static let serial: ParallelFor = { count, body in for i in 0..<count { body(i) } }

    /// The chunked item for `data` (every representation's bytes in header order). The
    /// chunker's scale is the smallest that keeps the manifest within
    /// `ItemManifest.maximumChunks`, so it stays 1 for all but huge items, and cut points
    /// of two versions of one item line up.
    public static func chunked(header: ItemHeader, data: [UInt8], parallel: ParallelFor = serial) -> ClipItem {
        precondition(UInt64(data.count) == header.totalSize, "item data does not match its header")
        var scale = 1
        var lengths: [[Int]] = []
        while true {
            let chunker = ContentChunker(scale: scale)
            lengths = data.withUnsafeBytes { raw in
                var offset = 0
                return header.representations.map { r in
                    defer { offset += Int(r.size) }
                    return chunker.chunkLengths(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + Int(r.size)]))
                }
            }
            if lengths.reduce(0, { $0 + $1.count }) <= ItemManifest.maximumChunks { break }
            scale *= 2
        }
        // Every chunk's start in `data`, then its hash, computed in batches that may run at once.
        var spans: [(start: Int, length: Int)] = []
        var offset = 0
        for (index, r) in header.representations.enumerated() {
            var start = offset
            for length in lengths[index] {
                spans.append((start, length))
                start += length
            }
            offset += Int(r.size)
        }
        let hashes = HashSlots(count: spans.count)
        let batches = min(spans.count, 64)
        let frozen = spans
        data.withUnsafeBytes { raw in
            let base = SendableRawPointer(raw.baseAddress)
            parallel(batches) { batch in
                var index = batch
                while index < frozen.count {
                    let span = frozen[index]
                    hashes.set(index, ChunkHash.of(UnsafeRawBufferPointer(start: base.pointer.map { $0 + span.start }, count: span.length)))
                    index += batches
                }
            }
        }
        var next = 0
        let manifest = ItemManifest(representations: lengths.map { chunkLengths in
            chunkLengths.map { length in
                defer { next += 1 }
                return ChunkRef(hash: hashes.get(next), size: UInt32(length))
            }
        })
        return ClipItem(header: header, manifest: manifest, data: data)
    }
}

/// Result slots written by parallel batches.
///
/// Sound as `@unchecked Sendable`: each slot is written by exactly one batch and read only
/// after every batch returned, so no two threads touch one slot.
private final class HashSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<ChunkHash?>
    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }
    deinit {
        slots.deinitialize()
        slots.deallocate()
    }
    func set(_ index: Int, _ hash: ChunkHash) { slots[index] = hash }
    func get(_ index: Int) -> ChunkHash { slots[index]! }
}

/// A pointer into a buffer that outlives the parallel batches reading it (they run inside
/// `withUnsafeBytes`).
///
/// Sound as `@unchecked Sendable`: nobody writes the buffer while they run, so they share
/// reads of memory no one changes.
private struct SendableRawPointer: @unchecked Sendable {
    let pointer: UnsafeRawPointer?
    init(_ pointer: UnsafeRawPointer?) { self.pointer = pointer }
}
