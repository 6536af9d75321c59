/// Frames exchanged before a session is encrypted: pairing and the Noise handshake
/// (protocol/framing.md).
///
///     magic    4  "CLPD"
///     version  1  0x01
///     type     1  see `HandshakeFrame.Kind`
///     length   2  body length, big-endian, at most 4096
///     body     length bytes
///
/// The fixed magic lets a reader that lost its place in a byte stream (a virtio-serial
/// port) scan forward to the next frame.
public struct HandshakeFrame: Equatable, Sendable {
    public static let magic: [UInt8] = Array("CLPD".utf8)
    public static let version: UInt8 = 1
    public static let headerByteCount = 8
    public static let maximumBodyLength = 4096

    public enum Kind: UInt8, Sendable {
        /// Noise IKpsk2 message 1 (initiator to responder).
        case noiseInit = 0x10
        /// Noise IKpsk2 message 2 (responder to initiator).
        case noiseResponse = 0x11
        /// Pairing, step 1: initiator's device id and SPAKE2 message pA.
        case pairStart = 0x20
        /// Pairing, step 2: responder's device id, pB and confirmation cB.
        case pairReply = 0x21
        /// Pairing, step 3: initiator's confirmation cA and its sealed identity.
        case pairConfirm = 0x22
        /// Pairing, step 4: responder's sealed identity.
        case pairFinish = 0x23
        /// Pairing, step 5: the joiner verified the listener's identity (a MAC); the listener
        /// stores the pair only then.
        case pairDone = 0x24
        /// Pairing ended without a pair; body is one reason byte.
        case pairFail = 0x2f
        /// VM channel, host to guest, at every attach and on request: an 8-byte attach id.
        /// A guest that sees a new id starts over (protocol/channel.md).
        case channelHello = 0x30
        /// VM channel, guest to host, when the guest opens its port: "say hello again".
        case channelHelloRequest = 0x31
    }

    public let kind: Kind
    public let body: [UInt8]

    public init(kind: Kind, body: [UInt8]) {
        precondition(body.count <= Self.maximumBodyLength)
        self.kind = kind
        self.body = body
    }

    /// The frame's bytes on the wire.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.headerByteCount + body.count)
        w.raw(Self.magic)
        w.u8(Self.version)
        w.u8(kind.rawValue)
        w.u16(UInt16(body.count))
        w.raw(body)
        return w.bytes
    }
}

/// Splits a byte stream into handshake frames.
///
/// Strict mode (TCP) throws on the first byte that is not a well-formed frame, and on the VM
/// channel's own frames, which have no business on TCP. Resync mode (virtio-serial) discards
/// bytes until the magic followed by a valid header, so stale bytes left in a pipe never
/// wedge the reader.
///
/// Work is linear in the bytes appended: frames are taken from a read offset and the buffer
/// is compacted only once the consumed part outgrows what is left (`movedBytes` counts what
/// compaction copied). Not thread-safe: one owner.
public struct HandshakeFrameDecoder {
    private var buffer: [UInt8] = []
    /// Where the unconsumed bytes start in `buffer`.
    private var start = 0
    private let resynchronising: Bool
    /// Bytes discarded while scanning for a frame (resync mode only).
    public private(set) var discardedBytes = 0
    /// Bytes copied while compacting the buffer: at most the bytes appended.
    public private(set) var movedBytes = 0

    public init(resynchronising: Bool) { self.resynchronising = resynchronising }

    /// Bytes received and not yet consumed.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        compactIfWorthIt()
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received but not yet consumed as frames (for handing over to the record layer).
    public mutating func takeRemainingBytes() -> [UInt8] {
        defer {
            buffer = []
            start = 0
        }
        return Array(buffer[start...])
    }

    /// The next complete frame, nil when more bytes are needed.
    public mutating func next() throws -> HandshakeFrame? {
        while true {
            guard bufferedByteCount >= HandshakeFrame.headerByteCount else {
                if resynchronising { dropUntilPossibleMagic() }
                else if bufferedByteCount > 0, !HandshakeFrame.magic.starts(with: buffer[start...].prefix(4)) {
                    throw WireError.malformed("handshake frame: bad magic")
                }
                return nil
            }
            do {
                let header = try parseHeader()
                let total = HandshakeFrame.headerByteCount + header.length
                guard bufferedByteCount >= total else { return nil }
                let body = Array(buffer[(start + HandshakeFrame.headerByteCount)..<(start + total)])
                start += total
                return HandshakeFrame(kind: header.kind, body: body)
            } catch {
                guard resynchronising else { throw error }
                // Skip to the next possible magic in one step: stale streams can be long.
                let skip = (nextMagicIndex(after: start) ?? max(start + 1, buffer.count - 3)) - start
                start += skip
                discardedBytes += skip
            }
        }
    }

    private func parseHeader() throws -> (kind: HandshakeFrame.Kind, length: Int) {
        let b = buffer[start..<(start + HandshakeFrame.headerByteCount)]
        guard b.prefix(4).elementsEqual(HandshakeFrame.magic) else { throw WireError.malformed("handshake frame: bad magic") }
        let version = b[start + 4], type = b[start + 5]
        guard version == HandshakeFrame.version else { throw WireError.unsupportedVersion(version) }
        guard let kind = HandshakeFrame.Kind(rawValue: type) else { throw WireError.malformed("handshake frame: unknown type \(type)") }
        if !resynchronising, kind == .channelHello || kind == .channelHelloRequest {
            throw WireError.malformed("handshake frame: a VM channel frame (\(kind)) on a network connection")
        }
        let length = Int(b[start + 6]) << 8 | Int(b[start + 7])
        guard length <= HandshakeFrame.maximumBodyLength else { throw WireError.tooLarge("handshake frame body") }
        return (kind, length)
    }

    /// Drops the consumed prefix once it is larger than what remains (and worth a copy), so
    /// each byte is copied a bounded number of times.
    private mutating func compactIfWorthIt() {
        guard start > 0 else { return }
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 4096, start >= buffer.count - start {
            movedBytes += buffer.count - start
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    private mutating func dropUntilPossibleMagic() {
        // Keep the longest suffix that could still grow into the magic.
        var keep = 0
        for n in stride(from: min(bufferedByteCount, 3), through: 1, by: -1) where HandshakeFrame.magic.starts(with: buffer.suffix(n)) {
            keep = n
            break
        }
        if let first = nextMagicIndex(after: start - 1), first + 4 <= buffer.count { keep = buffer.count - first }
        let drop = bufferedByteCount - keep
        discardedBytes += drop
        start += drop
    }

    /// The first index after `index` where the magic starts, or could start within the
    /// bytes still to come.
    private func nextMagicIndex(after index: Int) -> Int? {
        var i = index + 1
        while i < buffer.count {
            if buffer[i] == HandshakeFrame.magic[0] && HandshakeFrame.magic.starts(with: buffer[i..<min(i + 4, buffer.count)]) { return i }
            i += 1
        }
        return nil
    }
}
