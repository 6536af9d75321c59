import Dispatch

/// SHA-256 computed on a private serial queue, so hashing a large item runs on another
/// core while the caller decrypts or encrypts the next chunk.
///
/// Threading: `update` and `finalize` may be called from one owner thread; the OpenSSL
/// context inside is touched only on the private queue, which is what makes the unchecked
/// conformance sound. Chunks are immutable array slices handed over by value.
public final class BackgroundSHA256: @unchecked Sendable {
    private let queue = DispatchQueue(label: "clipd.sha256")
    private let hasher = SHA256Hasher()

    public init() {}

    /// Queues `chunk` for hashing and returns at once.
    public func update(_ chunk: ArraySlice<UInt8>) {
        guard !chunk.isEmpty else { return }
        queue.async { [self] in chunk.withUnsafeBytes { hasher.update($0) } }
    }

    /// Queues bytes that `owner` holds (a network buffer, say) without copying them: the
    /// queue keeps `owner` alive until `withBytes` has handed the bytes to the hash.
    public func update<Owner: Sendable>(keepingAlive owner: Owner, _ withBytes: @escaping @Sendable (Owner, (UnsafeRawBufferPointer) -> Void) -> Void) {
        queue.async { [self] in withBytes(owner) { hasher.update($0) } }
    }

    /// Waits for every queued chunk and returns the digest. Call once.
    public func finalize() -> [UInt8] {
        queue.sync { hasher.finalize() }
    }
}
