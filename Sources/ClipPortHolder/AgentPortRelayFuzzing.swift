/// The relay as a fuzzing step (`make fuzz`, target "port-holder"; the replay tests run its
/// seeds): input is a script of steps, each `op u8, length u8, bytes`, driving both sides and
/// the port's state. Whatever the script, the relay must not trap, and everything it sends
/// the guest must be whole messages in chunks of 1 to 2048 bytes for ports 1 and 2.
public enum AgentPortRelayFuzzing {
    public static func run(_ input: UnsafeRawBufferPointer) {
        var relay = AgentPortRelay(maximumMessage: 1 << 16)
        var offset = 0
        while offset + 2 <= input.count {
            let op = input[offset], length = Int(input[offset + 1])
            let bytes = Array(input[(offset + 2)..<min(input.count, offset + 2 + length)])
            offset += 2 + length
            let outputs: [AgentPortRelay.Output]
            switch op % 6 {
            case 0: outputs = relay.daemonConnected()
            case 1: outputs = relay.daemonDisconnected()
            case 2: outputs = relay.daemonSent(bytes[...])
            case 3: outputs = relay.guestSent(bytes)
            case 4: outputs = relay.guestPortChanged(open: length & 1 == 1)
            default:
                relay.guestConnectionRestarted()
                outputs = []
            }
            for case .toGuest(let bytes) in outputs { checkWholeMessages(bytes) }
        }
    }

    /// Traps unless `bytes` are chunks for ports 1 and 2 of 1 to 2048 bytes that end every
    /// message they start.
    static func checkWholeMessages(_ bytes: [UInt8]) {
        var reader = AgentMessageReader(rules: .init(maximumChunk: AgentWire.maximumChunkPayload, serverPortWhole: true))
        do {
            _ = try reader.feed(bytes[...])
        } catch {
            preconditionFailure("the relay sent the guest a broken stream: \(error)")
        }
        precondition(!reader.holdsPartialMessage, "the relay sent the guest part of a message")
    }
}
