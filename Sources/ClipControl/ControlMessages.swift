import Foundation

/// A request on the control socket (protocol/control.md). One JSON header per frame,
/// followed by an opaque payload (the item bytes for `send`).
public struct ControlRequest: Codable, Sendable {
    public enum Operation: String, Codable, Sendable {
        case send, recv, watch, status, peers, unpair, pairOpen, pairJoin
        /// Attach or detach a VM channel at run time (`target` is its --virtio spec); passvm
        /// uses them when a VM starts and stops.
        case channelAttach, channelDetach
        /// Stop and restart syncing (`clipd pause`, `clipd resume`).
        case pause, resume
        /// Set a peer's `direction` (`clipd peers set`).
        case peerSet
        /// Re-read the config file and peers.toml, as SIGHUP does (`clipd config reload`).
        case reload
        /// What `clipd doctor` asks the daemon: its view of sessions, channels and peers.
        case diagnose
    }

    public var op: Operation
    public var selection: String?
    public var mimeType: String?
    public var wait: Bool?
    public var timeoutMilliseconds: Int?
    public var listTypes: Bool?
    public var peer: String?
    public var code: String?
    public var target: String?
    /// With `channelAttach` and `channelDetach`: the channel is a SPICE agent port
    /// (`--vdagent`), not clipd's own.
    public var vdagent: Bool?
    /// With `watch`: the first event is the selection as it is now (`recv --watch CMD`).
    public var current: Bool?
    /// With `peerSet`: both, send, receive or off.
    public var direction: String?

    public init(op: Operation) { self.op = op }
}

/// A response or event on the control socket. A request gets one response, except
/// `pairOpen` (the code, then the outcome) and `watch` (one event per change).
public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    /// One line for people when `ok` is false.
    public var error: String?
    /// Extra lines for standard error (warnings, per-peer outcomes).
    public var notes: [String]?
    /// Lines for standard output (status, peers).
    public var lines: [String]?
    /// The MIME type of the payload, for `recv` and `watch`.
    public var mimeType: String?
    /// The MIME types an item offers (`recv --list-types`).
    public var types: [String]?
    /// The pairing code (`pairOpen`, first event).
    public var code: String?
    /// True on the last event of a stream.
    public var done: Bool?
    /// The payload follows in pieces (u32 length, bytes; a zero length ends them), then a
    /// trailer response that says whether all of it came (protocol/control.md).
    public var streamed: Bool?
    /// Bytes of the payload, when streamed.
    public var size: UInt64?
    /// With a `watch` event: data, sensitive, nil (the selection is empty) or clear (it was
    /// emptied); the variable CLIPBOARD_STATE of `recv --watch CMD`.
    public var state: String?
    /// With a `watch` event: who copied the item (a peer's name, or "this device").
    public var origin: String?

    public init(ok: Bool) { self.ok = ok }

    public static func failure(_ message: String) -> ControlResponse {
        var r = ControlResponse(ok: false)
        r.error = message
        r.done = true
        return r
    }
}

/// Framing of control messages: u32 big-endian header length, u64 big-endian payload
/// length, the JSON header, the payload.
public enum ControlFraming {
    public static let prefixByteCount = 12
    public static let maximumHeaderLength = 64 * 1024
    /// Most bytes of a payload or piece in a response: responses carry none but streamed
    /// pieces, which are at most 1 MiB. A client refuses anything larger before reading it.
    public static let maximumResponsePiece = 1 << 20

    /// The two lengths of a frame's prefix, checked before anything else is read: nil while
    /// fewer than 12 bytes are here; throws for a header over 64 KiB or a payload length
    /// over `maximumPayload`.
    public static func prefix<C: Collection>(_ bytes: C, maximumPayload: UInt64) throws -> (headerLength: Int, payloadLength: UInt64)? where C.Element == UInt8 {
        guard bytes.count >= prefixByteCount else { return nil }
        var header = 0, payload: UInt64 = 0
        for (index, byte) in bytes.prefix(prefixByteCount).enumerated() {
            if index < 4 { header = header << 8 | Int(byte) } else { payload = payload << 8 | UInt64(byte) }
        }
        guard header <= maximumHeaderLength, payload <= maximumPayload else {
            throw DaemonError("malformed control message: a frame of \(header) + \(payload) bytes")
        }
        return (header, payload)
    }

    /// A whole frame: prefix, header and payload.
    public static func encode<T: Encodable>(_ header: T, payload: [UInt8] = []) -> [UInt8] {
        encode(header, payloadLength: payload.count) + payload
    }

    /// The prefix and header of a frame whose payload of `payloadLength` bytes follows.
    public static func encode<T: Encodable>(_ header: T, payloadLength: Int) -> [UInt8] {
        let json = (try? JSONEncoder().encode(header)).map { [UInt8]($0) } ?? []
        var out: [UInt8] = []
        out.reserveCapacity(prefixByteCount + json.count)
        let h = UInt32(json.count), p = UInt64(payloadLength)
        for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: h >> UInt32(s))) }
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: p >> UInt64(s))) }
        return out + json
    }

    public static func decodeHeader<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw DaemonError("malformed control message")
        }
    }
}
