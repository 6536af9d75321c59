/// Finds the messages in one direction of an agent port's stream: chunk headers (port u32,
/// size u32), and per port a message (20-byte header, body) split across chunks.
///
/// Messages `keep` accepts are handed out whole (header and body); the others only by type
/// and size, their bodies skipped as they pass, never held. A value type with no I/O; not
/// thread-safe (one owner).
struct AgentMessageReader {
    struct Message: Equatable {
        let port: UInt32
        let type: UInt32
        let bodySize: Int
        /// Header and body, when kept.
        let bytes: [UInt8]?
    }

    struct FramingError: Error, CustomStringConvertible {
        let description: String
    }

    /// Rules for one direction.
    struct Rules {
        /// Largest chunk payload taken (the agent's limit for what goes to it).
        var maximumChunk = Int.max
        /// Largest message kept; a kept message over it is a framing error.
        var maximumMessage = Int.max
        /// A server-port message must start and end in one chunk.
        var serverPortWhole = false
        /// Which messages are handed out whole, by type and body size.
        var keep: @Sendable (_ type: UInt32, _ bodySize: Int) -> Bool = { _, _ in true }
    }

    private struct Assembly {
        var header: [UInt8] = []
        var type: UInt32 = 0
        var bodySize = 0
        var bodyRemaining = 0
        var kept: [UInt8]?
        var started: Bool { !header.isEmpty }
    }

    let rules: Rules
    private var chunkHeader: [UInt8] = []
    private var chunkPort: UInt32 = 0
    private var chunkRemaining = 0
    private var assemblies: [UInt32: Assembly] = [:]

    init(rules: Rules) { self.rules = rules }

    /// True while some port has a message begun and not finished.
    var holdsPartialMessage: Bool { assemblies.values.contains { $0.started } }

    /// Forgets every partial chunk and message: the next byte starts a chunk.
    mutating func reset() {
        chunkHeader = []
        chunkRemaining = 0
        assemblies = [:]
    }

    /// Reads `bytes`; returns the messages they complete, in order. After a framing error
    /// the reader's state is undefined until `reset()`.
    mutating func feed(_ bytes: ArraySlice<UInt8>) throws -> [Message] {
        var messages: [Message] = []
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            if chunkRemaining == 0 {
                let take = min(AgentWire.chunkHeaderSize - chunkHeader.count, bytes.endIndex - offset)
                chunkHeader += bytes[offset..<offset + take]
                offset += take
                if chunkHeader.count == AgentWire.chunkHeaderSize { try beginChunk() }
                continue
            }
            let take = min(chunkRemaining, bytes.endIndex - offset)
            try payload(bytes[offset..<offset + take], into: &messages)
            offset += take
            chunkRemaining -= take
            if chunkRemaining == 0, rules.serverPortWhole, chunkPort == AgentWire.serverPort, assemblies[chunkPort]?.started == true {
                throw FramingError(description: "a server-port message longer than its chunk")
            }
        }
        return messages
    }

    private mutating func beginChunk() throws {
        let port = chunkHeader.littleEndianU32(at: 0)
        let size = Int(chunkHeader.littleEndianU32(at: 4))
        chunkHeader = []
        guard port == AgentWire.clientPort || port == AgentWire.serverPort else {
            throw FramingError(description: "a chunk for port \(port)")
        }
        guard size > 0, size <= rules.maximumChunk else {
            throw FramingError(description: "a chunk of \(size) bytes")
        }
        if rules.serverPortWhole, port == AgentWire.serverPort, assemblies[port]?.started == true {
            throw FramingError(description: "a server-port message split across chunks")
        }
        chunkPort = port
        chunkRemaining = size
    }

    /// Payload bytes of the current chunk, for its port's message in progress.
    private mutating func payload(_ bytes: ArraySlice<UInt8>, into messages: inout [Message]) throws {
        // Taken out of the dictionary while it grows, so its bytes are never copied.
        var assembly = assemblies.removeValue(forKey: chunkPort) ?? Assembly()
        defer { assemblies[chunkPort] = assembly }
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            if assembly.header.count < AgentWire.messageHeaderSize {
                let take = min(AgentWire.messageHeaderSize - assembly.header.count, bytes.endIndex - offset)
                assembly.header += bytes[offset..<offset + take]
                offset += take
                guard assembly.header.count == AgentWire.messageHeaderSize else { continue }
                guard assembly.header.littleEndianU32(at: 0) == AgentWire.protocolVersion else {
                    throw FramingError(description: "a message of protocol \(assembly.header.littleEndianU32(at: 0))")
                }
                assembly.type = assembly.header.littleEndianU32(at: 4)
                assembly.bodySize = Int(assembly.header.littleEndianU32(at: 16))
                assembly.bodyRemaining = assembly.bodySize
                if rules.keep(assembly.type, assembly.bodySize) {
                    guard AgentWire.messageHeaderSize + assembly.bodySize <= rules.maximumMessage else {
                        throw FramingError(description: "a \(assembly.bodySize)-byte message, over the holder's limit of \(rules.maximumMessage) bytes")
                    }
                    var kept = assembly.header
                    kept.reserveCapacity(AgentWire.messageHeaderSize + assembly.bodySize)
                    assembly.kept = kept
                }
            } else {
                let take = min(assembly.bodyRemaining, bytes.endIndex - offset)
                assembly.kept? += bytes[offset..<offset + take]
                assembly.bodyRemaining -= take
                offset += take
            }
            if assembly.header.count == AgentWire.messageHeaderSize && assembly.bodyRemaining == 0 {
                messages.append(Message(port: chunkPort, type: assembly.type, bodySize: assembly.bodySize, bytes: assembly.kept))
                assembly = Assembly()
            }
        }
    }
}
