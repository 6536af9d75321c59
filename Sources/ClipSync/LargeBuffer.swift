import CClipSystem

/// Buffers for whole items, which can be tens of MiB.
public enum LargeBuffer {
    /// Items at least this large get huge-page backing.
    public static let hugePageThreshold = 4 << 20

    /// An empty array with room for `capacity` bytes. Large ones are backed by huge pages
    /// where the kernel allows it (a memory hint only; contents and behaviour are the same).
    public static func reserve(capacity: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        if capacity >= hugePageThreshold {
            let base = bytes.withUnsafeBufferPointer { UnsafeMutableRawPointer(mutating: $0.baseAddress) }
            if let base { clipd_advise_hugepages(base, capacity) }
        }
        return bytes
    }
}
