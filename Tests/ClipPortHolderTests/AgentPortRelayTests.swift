@testable import ClipPortHolder
import ClipVDAgent
import Testing

/// The port holder's relay with the bytes clipd's bridge really writes (ClipVDAgent's
/// codec), decoded again as an agent reads them.
@Suite("Agent port holder: the relay")
struct AgentPortRelayTests {
    static let full = VDAgentCodec(selectionPrefix: true, grabSerial: true)
    static let plain = VDAgentCodec(selectionPrefix: false, grabSerial: false)
    static let guestCaps = VDAgentCapabilities([.clipboardByDemand, .clipboardSelection, .guestLineEndLF])
    static let windowsCaps = VDAgentCapabilities([.clipboardByDemand, .guestLineEndCRLF])

    /// What the relay sent to the guest, as chunks (port, payload size) and as messages.
    static func toGuest(_ outputs: [AgentPortRelay.Output]) -> [UInt8] {
        outputs.flatMap { output -> [UInt8] in
            if case .toGuest(let bytes) = output { return bytes }
            return []
        }
    }

    static func messages(_ bytes: [UInt8], codec: VDAgentCodec = full) -> [VDAgentMessage] {
        var decoder = VDAgentFrameDecoder(maximumMessageSize: 1 << 26)
        return bytes.withUnsafeBytes { decoder.feed($0) }.compactMap { event in
            guard case .message(let type, let body) = event else { return nil }
            return try? codec.decode(type, body: body)
        }
    }

    func attached() -> AgentPortRelay {
        var relay = AgentPortRelay()
        #expect(relay.daemonConnected().isEmpty)
        return relay
    }

    @Test func theGuestGetsOnlyWholeMessagesHoweverTheDaemonWritesThem() {
        var relay = attached()
        let data = (0..<5000).map { UInt8($0 % 253) }
        let wire = Self.full.wire(.clipboard(selection: 0, type: 2, data: data))
        var out: [AgentPortRelay.Output] = []
        for offset in stride(from: 0, to: wire.count, by: 777) {
            let part = relay.daemonSent(wire[offset..<min(offset + 777, wire.count)])
            if offset + 777 < wire.count { #expect(Self.toGuest(part).isEmpty, "nothing before the message is whole") }
            out += part
        }
        #expect(Self.toGuest(out) == wire, "the message as clipd chunked it, byte for byte")
    }

    /// clipd killed in the middle of a 4 MiB answer: the agent sees none of it, and hears
    /// that its client went (on the server's port, which it takes whatever is in progress).
    @Test func aDaemonThatDiesMidMessageLeavesNothingHalfWritten() {
        var relay = attached()
        let wire = Self.full.wire(.clipboard(selection: 0, type: 2, data: [UInt8](repeating: 7, count: 4 << 20)))
        #expect(Self.toGuest(relay.daemonSent(wire[0..<(wire.count / 2)])).isEmpty)
        let out = relay.daemonDisconnected()
        #expect(Self.toGuest(out) == Self.full.wireOnServerPort(.clientDisconnected))
        #expect(out.contains { if case .log(let line) = $0 { line.contains("in the middle of a message") } else { false } })
        // The next daemon starts clean: its reset and grab pass whole.
        _ = relay.daemonConnected()
        let reset = Self.full.wireOnServerPort(.clientDisconnected) + Self.full.wireOnServerPort(.capabilities(request: true, .host))
        #expect(Self.toGuest(relay.daemonSent(reset[...])) == reset)
        let grab = Self.full.wire(.grab(selection: 0, serial: 0, types: [1]))
        #expect(Self.messages(Self.toGuest(relay.daemonSent(grab[...]))) == [.grab(selection: 0, serial: 0, types: [1])])
    }

    @Test func aServerPortMessagePassesWhileAClientPortMessageIsInProgress() {
        var relay = attached()
        let big = Self.full.wire(.clipboard(selection: 0, type: 1, data: [UInt8](repeating: 0x61, count: 3000)))
        #expect(Self.toGuest(relay.daemonSent(big[0..<2056])).isEmpty)
        let reset = Self.full.wireOnServerPort(.clientDisconnected)
        #expect(Self.toGuest(relay.daemonSent(reset[...])) == reset)
        #expect(Self.toGuest(relay.daemonSent(big[2056...])) == big)
    }

    @Test func aDaemonThatBreaksTheAgentsRulesIsCutOffAndNothingOfItPasses() {
        func broken(_ bytes: [UInt8]) -> [AgentPortRelay.Output] {
            var relay = attached()
            return relay.daemonSent(bytes[...])
        }
        let header = AgentWire.message(type: 4, body: [UInt8](repeating: 1, count: 4088))
        var tooBig: [UInt8] = []
        tooBig.appendWireU32(1)
        tooBig.appendWireU32(UInt32(header.count))
        tooBig += header  // one 4108-byte chunk: the Windows service would restart its agent
        var wrongPort: [UInt8] = []
        wrongPort.appendWireU32(0)
        wrongPort.appendWireU32(28)
        wrongPort += AgentWire.message(type: 13, body: [])
        let splitServerMessage = AgentWire.chunks(message: AgentWire.message(type: 6, body: [UInt8](repeating: 0, count: 3000)), port: 2)
        for (bytes, reason) in [(tooBig, "a chunk of 4108 bytes"), (wrongPort, "a chunk for port 0"),
                                (splitServerMessage, "a server-port message longer than its chunk")] {
            let out = broken(bytes)
            #expect(out.contains { if case .dropDaemon(let why) = $0 { why.contains(reason) } else { false } }, "\(reason): \(out)")
            #expect(Self.toGuest(out) == Self.full.wireOnServerPort(.clientDisconnected), "only the holder's own word reaches the agent")
        }
        var small = AgentPortRelay(maximumMessage: 1000)
        _ = small.daemonConnected()
        let out = small.daemonSent(Self.full.wire(.clipboard(selection: 0, type: 1, data: [UInt8](repeating: 0, count: 2000)))[...])
        #expect(out.contains { if case .dropDaemon(let why) = $0 { why.contains("over the holder's limit") } else { false } })
    }

    @Test func withoutADaemonTheGuestIsReadAndDiscardedAndEveryRequestRefusedAtOnce() {
        var relay = AgentPortRelay()
        _ = relay.daemonConnected()
        _ = relay.daemonSent(Self.full.wireOnServerPort(.capabilities(request: true, .host))[...])
        _ = relay.guestSent(Self.plain.wire(.capabilities(request: false, Self.guestCaps)))
        // The agent has heard of no client since (CLIENT_DISCONNECTED): its clipboard
        // messages carry no selection prefix, and neither does the refusal.
        _ = relay.daemonDisconnected()
        let out = relay.guestSent(Self.plain.wire(.request(selection: 0, type: 2)))
        #expect(!out.contains { if case .toDaemon = $0 { true } else { false } })
        #expect(Self.messages(Self.toGuest(out), codec: Self.plain) == [.clipboard(selection: 0, type: 0, data: [])])
        // Two requests in one read: both answered, in order.
        let two = Self.plain.wire(.request(selection: 0, type: 1)) + Self.plain.wire(.request(selection: 0, type: 2))
        #expect(Self.messages(Self.toGuest(relay.guestSent(two)), codec: Self.plain).count == 2)
    }

    @Test func withADaemonTheGuestsBytesPassUnchangedAndItAnswersTheRequests() {
        var relay = attached()
        let grab = Self.plain.wire(.grab(selection: 0, serial: nil, types: [1]))
        let request = Self.plain.wire(.request(selection: 0, type: 1))
        let out = relay.guestSent(grab + request)
        #expect(out == [.toDaemon(grab + request)])
    }

    /// The agent closed its port (a logon, a service restart): nothing more from the daemon
    /// is passed on, the daemon is let go, what was queued is purged; when the agent opens
    /// the port again, messages pass again.
    @Test func aClosedPortLetsTheDaemonGoAndGetsNothingUntilItOpens() {
        var relay = attached()
        let out = relay.guestPortChanged(open: false)
        #expect(out.contains(.purgeGuest))
        #expect(out.contains { if case .dropDaemon = $0 { true } else { false } })
        #expect(relay.guestPortChanged(open: false).isEmpty, "said once")
        // The daemon reconnects at once and resets; the port is still closed.
        _ = relay.daemonConnected()
        let reset = Self.full.wireOnServerPort(.clientDisconnected)
        #expect(Self.toGuest(relay.daemonSent(reset[...])).isEmpty)
        #expect(Self.toGuest(relay.daemonDisconnected()).isEmpty, "no word to a closed port")
        _ = relay.daemonConnected()
        let announce = Self.full.wireOnServerPort(.capabilities(request: true, .host))
        #expect(Self.toGuest(relay.daemonSent((reset + announce)[...])).isEmpty)
        // The reset it sent while the port was closed is replayed when the port opens.
        #expect(Self.toGuest(relay.guestPortChanged(open: true)) == reset + announce)
        #expect(Self.toGuest(relay.daemonSent(reset[...])) == reset)
    }

    @Test func aGuestThatBreaksTheFramingIsPassedOnUnreadAndNotAnswered() {
        var relay = AgentPortRelay()
        let out = relay.guestSent([9, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4])
        #expect(out.contains { if case .log(let line) = $0 { line.contains("chunk for port 9") } else { false } })
        #expect(Self.toGuest(relay.guestSent(Self.plain.wire(.request(selection: 0, type: 1)))).isEmpty)
        relay.guestConnectionRestarted()
        #expect(!Self.toGuest(relay.guestSent(Self.plain.wire(.request(selection: 0, type: 1)))).isEmpty)
    }
}
