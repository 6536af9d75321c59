/// One agent message, its body decoded (protocol/vdagent.md). Selections are the wire's
/// byte (0 clipboard, 1 primary, 2 secondary) and data types its u32, so values clipd does
/// not use are carried, not lost.
public enum VDAgentMessage: Equatable, Sendable {
    /// ANNOUNCE_CAPABILITIES: `request` asks the other end to announce its own.
    case capabilities(request: Bool, VDAgentCapabilities)
    /// CLIPBOARD_GRAB: the sender owns the selection and offers these types.
    case grab(selection: UInt8, serial: UInt32?, types: [UInt32])
    /// CLIPBOARD_REQUEST: send the selection's data in this type.
    case request(selection: UInt8, type: UInt32)
    /// CLIPBOARD: the data asked for; type NONE with no bytes means there is none.
    case clipboard(selection: UInt8, type: UInt32, data: [UInt8])
    /// CLIPBOARD_RELEASE: the sender no longer owns the selection.
    case release(selection: UInt8)
    /// MAX_CLIPBOARD: the largest clipboard data the sender accepts.
    case maxClipboard(Int32)
    /// CLIENT_DISCONNECTED: the SPICE client went away (the agent drops its client state).
    case clientDisconnected
    /// Any other type; clipd ignores it.
    case other(VDAgentMessageType)
}

/// A message body that does not decode: one line for the log.
public struct VDAgentDecodeError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Decodes and encodes message bodies under what the guest announced: clipboard messages
/// carry a 4-byte selection prefix when the guest has CLIPBOARD_SELECTION, and grabs a
/// serial when it has CLIPBOARD_GRAB_SERIAL (clipd announces both).
public struct VDAgentCodec: Equatable, Sendable {
    public var selectionPrefix: Bool
    public var grabSerial: Bool

    public init(selectionPrefix: Bool, grabSerial: Bool) {
        self.selectionPrefix = selectionPrefix
        self.grabSerial = grabSerial
    }

    /// The codec for a guest that announced `capabilities` to clipd's host set.
    public init(guest capabilities: VDAgentCapabilities) {
        selectionPrefix = capabilities.contains(.clipboardSelection)
        grabSerial = capabilities.contains(.clipboardGrabSerial)
    }

    /// Most types one grab may list (six exist).
    static let maximumGrabTypes = 32

    public func decode(_ type: VDAgentMessageType, body: [UInt8]) throws(VDAgentDecodeError) -> VDAgentMessage {
        func fail(_ problem: String) -> VDAgentDecodeError { VDAgentDecodeError("\(type) of \(body.count) bytes: \(problem)") }
        switch type {
        case .announceCapabilities:
            guard body.count >= 8 else { throw fail("needs a request word and a capability word") }
            let words = (0..<(body.count - 4) / 4).map { body.u32LE(at: 4 + 4 * $0) }
            return .capabilities(request: body.u32LE(at: 0) != 0, VDAgentCapabilities(words: words))
        case .clipboardGrab, .clipboardRequest, .clipboard, .clipboardRelease:
            var offset = 0
            var selection: UInt8 = 0
            if selectionPrefix {
                guard body.count >= 4 else { throw fail("no selection prefix") }
                selection = body[0]
                offset = 4
            }
            switch type {
            case .clipboardGrab:
                var serial: UInt32?
                if grabSerial {
                    guard body.count >= offset + 4 else { throw fail("no serial") }
                    serial = body.u32LE(at: offset)
                    offset += 4
                }
                let rest = body.count - offset
                guard rest % 4 == 0 else { throw fail("types are not whole u32s") }
                guard rest / 4 <= Self.maximumGrabTypes else { throw fail("more than \(Self.maximumGrabTypes) types") }
                return .grab(selection: selection, serial: serial, types: stride(from: offset, to: body.count, by: 4).map { body.u32LE(at: $0) })
            case .clipboardRequest:
                guard body.count == offset + 4 else { throw fail("expected one type") }
                return .request(selection: selection, type: body.u32LE(at: offset))
            case .clipboard:
                guard body.count >= offset + 4 else { throw fail("no data type") }
                return .clipboard(selection: selection, type: body.u32LE(at: offset), data: Array(body[(offset + 4)...]))
            default:
                guard body.count == offset else { throw fail("expected no body beyond the selection") }
                return .release(selection: selection)
            }
        case .maxClipboard:
            guard body.count == 4 else { throw fail("expected one i32") }
            return .maxClipboard(Int32(bitPattern: body.u32LE(at: 0)))
        case .clientDisconnected:
            return .clientDisconnected
        default:
            return .other(type)
        }
    }

    /// The message's type and body.
    public func body(of message: VDAgentMessage) -> (VDAgentMessageType, [UInt8]) {
        var body: [UInt8] = []
        func selection(_ value: UInt8) { if selectionPrefix { body += [value, 0, 0, 0] } }
        switch message {
        case .capabilities(let request, let capabilities):
            body.appendU32LE(request ? 1 : 0)
            for word in capabilities.words { body.appendU32LE(word) }
            return (.announceCapabilities, body)
        case .grab(let s, let serial, let types):
            selection(s)
            if grabSerial { body.appendU32LE(serial ?? 0) }
            for type in types { body.appendU32LE(type) }
            return (.clipboardGrab, body)
        case .request(let s, let type):
            selection(s)
            body.appendU32LE(type)
            return (.clipboardRequest, body)
        case .clipboard(let s, let type, let data):
            selection(s)
            body.appendU32LE(type)
            body += data
            return (.clipboard, body)
        case .release(let s):
            selection(s)
            return (.clipboardRelease, body)
        case .maxClipboard(let max):
            body.appendU32LE(UInt32(bitPattern: max))
            return (.maxClipboard, body)
        case .clientDisconnected:
            return (.clientDisconnected, body)
        case .other(let type):
            return (type, body)
        }
    }

    /// The message as the guest receives it: a 20-byte header and the body, in chunks for
    /// the client port carrying at most 2048 bytes each.
    public func wire(_ message: VDAgentMessage) -> [UInt8] {
        let (type, body) = self.body(of: message)
        return Self.chunked(type: type, body: body)
    }

    /// The message as one chunk on the server's port (VDP_SERVER_PORT), for the resets and
    /// announcements the agent must take even while a client-port message of an earlier
    /// host is still in progress: both agents deliver a server-port chunk as a message of
    /// its own. Only messages that fit one chunk go this way.
    public func wireOnServerPort(_ message: VDAgentMessage) -> [UInt8] {
        let (type, body) = self.body(of: message)
        precondition(VDAgent.messageHeaderSize + body.count <= VDAgent.maximumChunkPayload, "a server-port message must fit one chunk")
        return Self.chunked(type: type, body: body, port: VDAgent.serverPort)
    }

    /// Header and body split into chunks for `port` (the client's by default) of at most
    /// 2048 payload bytes.
    public static func chunked(type: VDAgentMessageType, body: [UInt8], port: UInt32 = VDAgent.clientPort) -> [UInt8] {
        var message: [UInt8] = []
        message.reserveCapacity(VDAgent.messageHeaderSize + body.count)
        message.appendU32LE(VDAgent.protocolVersion)
        message.appendU32LE(type.rawValue)
        message += [UInt8](repeating: 0, count: 8)  // opaque
        message.appendU32LE(UInt32(body.count))
        message += body
        var out: [UInt8] = []
        out.reserveCapacity(message.count + (message.count / VDAgent.maximumChunkPayload + 1) * VDAgent.chunkHeaderSize)
        var offset = 0
        while offset < message.count {
            let size = min(VDAgent.maximumChunkPayload, message.count - offset)
            out.appendU32LE(port)
            out.appendU32LE(UInt32(size))
            out += message[offset..<offset + size]
            offset += size
        }
        return out
    }
}

extension Array where Element == UInt8 {
    mutating func appendU32LE(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 24))
    }
}
