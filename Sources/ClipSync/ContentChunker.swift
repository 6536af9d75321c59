import ClipCrypto
import ClipWire

/// Content-defined chunking (FastCDC with normalised chunking, Xia et al. 2016): cut points
/// depend only on the bytes just before them, so an edit in the middle of an item changes
/// the chunks around the edit and no others. That is what lets a peer that holds an older
/// version fetch only what changed (protocol/sync.md, "Chunks").
///
/// Pure and thread-safe: no state beyond constant tables.
public struct ContentChunker: Sendable {
    /// No chunk is shorter, except the last one of a representation.
    public let minimumSize: Int
    /// The size chunks gather around.
    public let normalSize: Int
    /// No chunk is longer.
    public let maximumSize: Int
    /// Harder cut condition before the normal size, easier after (normalisation level 2).
    private let strictMask: UInt64
    private let looseMask: UInt64

    /// The parameters at `scale` 1: 16 KiB minimum, 64 KiB normal, 256 KiB maximum. Each
    /// doubling of `scale` doubles all three (used only for items whose manifest would
    /// otherwise not fit one record).
    public init(scale: Int = 1) {
        precondition(scale >= 1 && scale.nonzeroBitCount == 1, "scale is a power of two")
        let shift = scale.trailingZeroBitCount
        minimumSize = (16 << 10) << shift
        normalSize = (64 << 10) << shift
        maximumSize = (256 << 10) << shift
        let normalBits = 16 + shift
        strictMask = Self.spreadMask(bits: normalBits + 2)
        looseMask = Self.spreadMask(bits: normalBits - 2)
    }

    /// A mask of `bits` ones spread evenly over the high 48 bits of a word: a gear hash's
    /// high bits depend on the most bytes, so these cut points look at a 48-byte window.
    static func spreadMask(bits: Int) -> UInt64 {
        var mask: UInt64 = 0
        for k in 0..<bits { mask |= 1 << UInt64(63 - (k * 48) / bits) }
        return mask
    }

    /// The gear table: entry `i` is the first 8 bytes (big-endian) of
    /// SHA-256("clipd gear v1" || i). Fixed by the protocol so every daemon cuts alike.
    static let gear: [UInt64] = (0..<256).map { i in
        SHA256.hash(Array("clipd gear v1".utf8) + [UInt8(i)]).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The lengths of the chunks `bytes` is cut into, in order (empty for empty input).
    public func chunkLengths(_ bytes: UnsafeRawBufferPointer) -> [Int] {
        var lengths: [Int] = []
        lengths.reserveCapacity(bytes.count / normalSize + 1)
        Self.gear.withUnsafeBufferPointer { gear in
            var start = 0
            while start < bytes.count {
                let length = cut(bytes, from: start, gear: gear.baseAddress!)
                lengths.append(length)
                start += length
            }
        }
        return lengths
    }

    /// The length of the chunk starting at `start`.
    private func cut(_ bytes: UnsafeRawBufferPointer, from start: Int, gear: UnsafePointer<UInt64>) -> Int {
        let remaining = bytes.count - start
        guard remaining > minimumSize else { return remaining }
        let limit = min(maximumSize, remaining)
        let normal = min(normalSize, limit)
        let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + start
        var hash: UInt64 = 0
        var i = minimumSize
        while i < normal {
            hash = (hash << 1) &+ gear[Int(base[i])]
            if hash & strictMask == 0 { return i + 1 }
            i += 1
        }
        while i < limit {
            hash = (hash << 1) &+ gear[Int(base[i])]
            if hash & looseMask == 0 { return i + 1 }
            i += 1
        }
        return limit
    }
}
