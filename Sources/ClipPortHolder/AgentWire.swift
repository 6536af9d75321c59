/// The few facts of the SPICE agent protocol the port holder needs (spice-protocol's
/// vd_agent.h; protocol/vdagent.md). The holder does not link the bridge's codecs: it only
/// finds message boundaries, and answers the one message that must never wait.
enum AgentWire {
    static let chunkHeaderSize = 8
    static let messageHeaderSize = 20
    /// The most payload bytes in one chunk an agent takes (`VD_AGENT_MAX_DATA_SIZE`).
    static let maximumChunkPayload = 2048
    static let clientPort: UInt32 = 1
    static let serverPort: UInt32 = 2
    static let protocolVersion: UInt32 = 1

    static let clipboard: UInt32 = 4
    static let announceCapabilities: UInt32 = 6
    static let clipboardRequest: UInt32 = 8
    static let clientDisconnected: UInt32 = 13
    /// `VD_AGENT_CAP_CLIPBOARD_SELECTION`: the clipboard messages carry a selection prefix.
    static let selectionCapability = 6

    /// A message as chunks for `port` of at most 2048 payload bytes each.
    static func chunks(message: [UInt8], port: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + (message.count / maximumChunkPayload + 1) * chunkHeaderSize)
        var offset = 0
        while offset < message.count {
            let size = min(maximumChunkPayload, message.count - offset)
            out.appendWireU32(port)
            out.appendWireU32(UInt32(size))
            out += message[offset..<offset + size]
            offset += size
        }
        return out
    }

    /// A whole message: header (protocol 1, `type`, opaque 0, size) and `body`.
    static func message(type: UInt32, body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.appendWireU32(protocolVersion)
        out.appendWireU32(type)
        out += [UInt8](repeating: 0, count: 8)
        out.appendWireU32(UInt32(body.count))
        return out + body
    }

    /// CLIENT_DISCONNECTED as one server-port chunk: what spice-server tells an agent when
    /// its client goes, and what the holder says when clipd does.
    static let clientDisconnectedChunk = chunks(message: message(type: clientDisconnected, body: []), port: serverPort)
}

extension Array where Element == UInt8 {
    mutating func appendWireU32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

extension Collection where Element == UInt8, Index == Int {
    /// The little-endian u32 at `offset` (which must leave four bytes).
    func littleEndianU32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[startIndex + offset + $1]) << UInt32(8 * $1) }
    }
}
