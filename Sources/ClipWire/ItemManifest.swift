import ClipCrypto

/// The identity of one content-defined chunk: the SHA-256 of its bytes. Two chunks with the
/// same hash are the same bytes, whoever made them, which is what lets a daemon fetch only
/// the chunks of an item it does not hold yet.
///
/// Stored as four words so that dictionary lookups hash and compare without touching an
/// array.
public struct ChunkHash: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32

    private let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// Takes exactly 32 bytes.
    public init<C: Collection>(bytes: C) where C.Element == UInt8 {
        precondition(bytes.count == Self.byteCount, "a chunk hash is 32 bytes")
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, byte) in bytes.enumerated() { words[index / 8] = words[index / 8] << 8 | UInt64(byte) }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    /// The hash of `data`.
    public static func of(_ data: UnsafeRawBufferPointer) -> ChunkHash { ChunkHash(bytes: SHA256.hash(data)) }

    /// The hash of `data`.
    public static func of(_ data: ArraySlice<UInt8>) -> ChunkHash { data.withUnsafeBytes { of($0) } }

    /// The 32 bytes, big-endian word by word (the order they have on the wire).
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.byteCount)
        for word in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return out
    }

    /// The first 8 hex digits, for logs.
    public var description: String { Array(bytes.prefix(4)).hexString }
}

/// One chunk of a representation: its hash and its size.
public struct ChunkRef: Hashable, Sendable {
    public let hash: ChunkHash
    public let size: UInt32

    public init(hash: ChunkHash, size: UInt32) {
        self.hash = hash
        self.size = size
    }
}

/// How an item too large to travel inside its offer is cut into content-defined chunks:
/// for each representation, in header order, its chunks in order (protocol/sync.md).
/// Offers carry it, so a receiver knows every chunk's hash before it fetches anything.
public struct ItemManifest: Hashable, Sendable {
    /// Most chunks one manifest may list: what fits one record (36 bytes a chunk).
    public static let maximumChunks = 7_000
    /// Largest chunk a manifest may list.
    public static let maximumChunkSize = 1 << 20

    /// Per representation, its chunks in order.
    public let representations: [[ChunkRef]]

    public init(representations: [[ChunkRef]]) {
        self.representations = representations
    }

    /// Chunks in all representations.
    public var chunkCount: Int { representations.reduce(0) { $0 + $1.count } }

    /// Where each chunk of representation `index` starts, plus the end: `count + 1` offsets.
    public func offsets(ofRepresentation index: Int) -> [UInt64] {
        var offsets: [UInt64] = [0]
        offsets.reserveCapacity(representations[index].count + 1)
        for chunk in representations[index] { offsets.append(offsets.last! + UInt64(chunk.size)) }
        return offsets
    }

    /// Bytes of the manifest on the wire.
    public var encodedByteCount: Int { representations.count * 4 + chunkCount * (4 + ChunkHash.byteCount) }

    func write(into w: inout ByteWriter) {
        for chunks in representations {
            w.u32(UInt32(chunks.count))
            for chunk in chunks {
                w.u32(chunk.size)
                w.raw(chunk.hash.bytes)
            }
        }
    }

    /// Reads a manifest for `header` and checks it against the header: every
    /// representation's chunks add up to its size, no chunk is empty or over the limit.
    static func read(_ r: inout ByteReader, for header: ItemHeader) throws -> ItemManifest {
        var representations: [[ChunkRef]] = []
        var total = 0
        for info in header.representations {
            let count = Int(try r.u32())
            total += count
            guard total <= maximumChunks else { throw WireError.malformed("offer: manifest lists more than \(maximumChunks) chunks") }
            var chunks: [ChunkRef] = []
            chunks.reserveCapacity(count)
            var size: UInt64 = 0
            for _ in 0..<count {
                let chunkSize = try r.u32()
                guard chunkSize >= 1, chunkSize <= maximumChunkSize else { throw WireError.malformed("offer: chunk of \(chunkSize) bytes") }
                size += UInt64(chunkSize)
                chunks.append(ChunkRef(hash: ChunkHash(bytes: try r.raw(ChunkHash.byteCount)), size: chunkSize))
            }
            guard size == info.size else {
                throw WireError.malformed("offer: \(info.mimeType) chunks add up to \(size) bytes, header says \(info.size)")
            }
            representations.append(chunks)
        }
        return ItemManifest(representations: representations)
    }
}
