/// Reassembles the agent messages a guest sends from its chunks (protocol/vdagent.md).
///
/// A chunk is `port u32, size u32` and `size` payload bytes; messages (a 20-byte header and
/// a body) are split across chunks of any size, and one chunk may hold several. Each port
/// has its own message in progress. Messages over `maximumMessageSize` are discarded as
/// they arrive, never buffered.
///
/// After malformed input (a bad port, an empty chunk, a protocol other than 1) the framing
/// is lost: the decoder reports it once and then scans for a chunk that starts an
/// ANNOUNCE_CAPABILITIES message, which the agent sends when the host asks it to start
/// over. Everything before that is dropped.
///
/// A value type with no I/O; not thread-safe (one owner).
public struct VDAgentFrameDecoder {
    public enum Event: Equatable, Sendable {
        /// A whole message.
        case message(VDAgentMessageType, body: [UInt8])
        /// A message over the limit, discarded; `head` holds up to its first 8 body bytes
        /// (enough to tell which selection a CLIPBOARD was for).
        case oversized(VDAgentMessageType, size: Int, head: [UInt8])
        /// The input broke the framing; the decoder now scans for the agent's next
        /// capability announcement.
        case malformed(String)
    }

    /// Largest message body kept.
    public let maximumMessageSize: Int
    /// True while looking for the agent's next capability announcement.
    public private(set) var resynchronising = false

    private struct Assembly {
        var header: [UInt8] = []
        var type = VDAgentMessageType(rawValue: 0)
        var size = 0
        var received = 0
        var body: [UInt8] = []
        var skipping = false
        var head: [UInt8] = []
    }

    private var chunkHeader: [UInt8] = []
    private var chunkPort: UInt32 = 0
    private var chunkRemaining = 0
    private var assemblies: [UInt32: Assembly] = [:]
    /// Unmatched bytes kept between feeds while resynchronising.
    private var window: [UInt8] = []

    public init(maximumMessageSize: Int) {
        self.maximumMessageSize = maximumMessageSize
    }

    /// Drops every partial chunk and message and scans for the agent's next capability
    /// announcement (the host asked the agent to start over).
    public mutating func resynchronise() {
        chunkHeader = []
        chunkRemaining = 0
        assemblies = [:]
        window = []
        resynchronising = true
    }

    /// Takes the next bytes from the guest; returns what they completed, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Event] {
        feed(bytes, maximumEvents: .max).events
    }

    /// Takes bytes from the guest until `maximumEvents` events are complete; returns them
    /// and how many of `bytes` were consumed (the rest is to be fed again later). A reader
    /// that answers each message can so stop between messages while its output is full.
    ///
    /// Work is linear in the bytes fed, however many framing breaks and announcements they
    /// hold: decoding moves an offset through the input and never copies what follows.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, maximumEvents: Int) -> (events: [Event], consumed: Int) {
        var events: [Event] = []
        guard resynchronising, !window.isEmpty else {
            let used = decodeAll(bytes, maximumEvents: maximumEvents, into: &events)
            return (events, used)
        }
        // The few bytes kept from the last feed could start the announcement: they are
        // scanned joined with the new ones (one copy of this feed).
        let carried = window
        window = []
        let joined = carried + Array(bytes)
        let used = joined.withUnsafeBytes { decodeAll($0, maximumEvents: maximumEvents, into: &events) }
        return (events, max(0, used - carried.count))
    }

    /// Decodes from the start of `bytes` until they end or `maximumEvents` events are
    /// complete; returns how many bytes were used.
    private mutating func decodeAll(_ bytes: UnsafeRawBufferPointer, maximumEvents: Int, into events: inout [Event]) -> Int {
        var position = 0
        while position < bytes.count, events.count < maximumEvents {
            if resynchronising {
                guard let start = Self.announcementStart(in: bytes, from: position) else {
                    // Keep only what could still grow into an announcement's start.
                    window = Array(bytes[max(position, bytes.count - (Self.announcementPrefix - 1))...])
                    return bytes.count
                }
                resynchronising = false
                position = start
            }
            position = decode(bytes, from: position, maximumEvents: maximumEvents, into: &events)
        }
        return position
    }

    /// Decodes chunks from `position` until the bytes end, the framing breaks or enough
    /// events are complete; returns where it stopped.
    private mutating func decode(_ bytes: UnsafeRawBufferPointer, from position: Int, maximumEvents: Int, into events: inout [Event]) -> Int {
        var position = position
        while position < bytes.count, !resynchronising, events.count < maximumEvents {
            if chunkRemaining == 0 {
                let take = min(VDAgent.chunkHeaderSize - chunkHeader.count, bytes.count - position)
                chunkHeader += bytes[position..<(position + take)]
                position += take
                guard chunkHeader.count == VDAgent.chunkHeaderSize else { return position }
                let port = chunkHeader.u32LE(at: 0), size = Int(chunkHeader.u32LE(at: 4))
                chunkHeader = []
                guard port == VDAgent.clientPort || port == VDAgent.serverPort else {
                    events.append(broken("chunk for port \(port) (only 1 and 2 exist)"))
                    return position
                }
                guard size > 0 else {
                    events.append(broken("empty chunk"))
                    return position
                }
                chunkPort = port
                chunkRemaining = size
                continue
            }
            let available = min(chunkRemaining, bytes.count - position)
            let used = consume(bytes[position..<(position + available)], port: chunkPort, maximumEvents: maximumEvents, into: &events)
            if resynchronising {
                // The framing broke inside this chunk: the rest of it is dropped, what
                // follows it is scanned.
                return position + available
            }
            position += used
            chunkRemaining -= used
        }
        return position
    }

    /// Adds chunk payload bytes to the port's message in progress, stopping once
    /// `maximumEvents` events are complete; returns how many bytes it used.
    private mutating func consume(_ bytes: Slice<UnsafeRawBufferPointer>, port: UInt32, maximumEvents: Int, into events: inout [Event]) -> Int {
        var piece = bytes
        var assembly = assemblies[port] ?? Assembly()
        defer { if !resynchronising { assemblies[port] = assembly } }
        while events.count < maximumEvents {
            if assembly.header.count < VDAgent.messageHeaderSize {
                guard !piece.isEmpty else { break }
                let take = min(VDAgent.messageHeaderSize - assembly.header.count, piece.count)
                assembly.header += piece.prefix(take)
                piece = piece.dropFirst(take)
                guard assembly.header.count == VDAgent.messageHeaderSize else { break }
                let version = assembly.header.u32LE(at: 0)
                guard version == VDAgent.protocolVersion else {
                    events.append(broken("message with protocol \(version) (only 1 exists)"))
                    break
                }
                assembly.type = VDAgentMessageType(rawValue: assembly.header.u32LE(at: 4))
                assembly.size = Int(assembly.header.u32LE(at: 16))
                assembly.skipping = assembly.size > maximumMessageSize
                if !assembly.skipping { assembly.body.reserveCapacity(min(assembly.size, 1 << 20)) }
            }
            let take = min(assembly.size - assembly.received, piece.count)
            if assembly.skipping {
                assembly.head += piece.prefix(max(0, min(take, 8 - assembly.head.count)))
            } else {
                assembly.body += piece.prefix(take)
            }
            assembly.received += take
            piece = piece.dropFirst(take)
            guard assembly.received == assembly.size else { break }
            events.append(assembly.skipping ? .oversized(assembly.type, size: assembly.size, head: assembly.head)
                                            : .message(assembly.type, body: assembly.body))
            assembly = Assembly()
        }
        return bytes.count - piece.count
    }

    private mutating func broken(_ reason: String) -> Event {
        resynchronise()
        return .malformed(reason)
    }

    /// Chunk header, message header and the announcement's request word.
    private static let announcementPrefix = VDAgent.chunkHeaderSize + VDAgent.messageHeaderSize + 4

    /// Where, at or after `from`, a chunk starts that holds exactly one
    /// ANNOUNCE_CAPABILITIES message (request word plus one to eight capability words), or nil.
    static func announcementStart(in bytes: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        guard bytes.count - from >= announcementPrefix else { return nil }
        for start in from...(bytes.count - announcementPrefix) {
            let port = bytes.u32LE(at: start)
            guard port == VDAgent.clientPort || port == VDAgent.serverPort else { continue }
            let chunkSize = Int(bytes.u32LE(at: start + 4))
            let messageSize = Int(bytes.u32LE(at: start + 24))
            guard bytes.u32LE(at: start + 8) == VDAgent.protocolVersion,
                  bytes.u32LE(at: start + 12) == VDAgentMessageType.announceCapabilities.rawValue,
                  chunkSize == VDAgent.messageHeaderSize + messageSize,
                  (8...36).contains(messageSize), messageSize % 4 == 0
            else { continue }
            return start
        }
        return nil
    }
}

extension UnsafeRawBufferPointer {
    /// The little-endian u32 at `offset`.
    func u32LE(at offset: Int) -> UInt32 {
        UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
    }
}

extension Array where Element == UInt8 {
    /// The little-endian u32 at `offset`.
    func u32LE(at offset: Int) -> UInt32 {
        var value = UInt32(self[offset])
        value |= UInt32(self[offset + 1]) << 8
        value |= UInt32(self[offset + 2]) << 16
        value |= UInt32(self[offset + 3]) << 24
        return value
    }
}
