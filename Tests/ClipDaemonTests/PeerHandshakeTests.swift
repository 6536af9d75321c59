import ClipCrypto
@testable import ClipDaemon
import ClipSync
import ClipWire
import NIOCore
import Testing

/// `PeerHandshake` on bytes alone: two machines wired back to back through their outputs,
/// with a recording authority in place of the daemon. Covers the Noise handshake, both
/// pairing roles, the VM channel's hellos and every refusal path, and the record stream
/// that carries a session afterwards, without a socket or an event loop.
@Suite("Peer handshake: Noise, pairing and channel hellos as a pure state machine")
struct PeerHandshakeTests {
    typealias Output = PeerHandshake.Output

    // MARK: Fixtures

    /// The daemon's part, recorded.
    final class Authority: HandshakeAuthority {
        let identity: LocalIdentity
        var peers: [StoredPeer] = []
        var window: PairingCode?
        var codeTaken = false
        var storeSucceeds = true
        var replayProblem: String?
        var guestStep: GuestChannelStep = .wait
        var events: [String] = []
        var stored: [PairedPeer] = []
        var joined: [(PairedPeer, PeerAddress)] = []
        private var clock: UInt64 = 1_000

        init(_ name: String) { identity = LocalIdentity(key: .generate(), name: name) }

        func pairedPeer(staticKey: [UInt8]) -> StoredPeer? { peers.first { $0.identity.staticPublicKey == staticKey } }
        func handshakeTimestamp() -> UInt64 { clock += 1; return clock }
        func handshakeTimestampProblem(_ timestamp: UInt64, from peer: DeviceID) -> String? { replayProblem }
        func handshakeRejected(by peer: StoredPeer) { events.append("rejected by \(peer.name)") }
        func takePairingCode(from remote: String) -> PairingService.CodeOutcome {
            events.append("code asked by \(remote)")
            if codeTaken { return .taken }
            guard let window else { return .none }
            codeTaken = true
            return .code(window)
        }
        func pairingFailed(_ error: PairingError) { events.append("pairing failed: \(error)") }
        func pairingSucceeded(_ paired: PairedPeer) -> Bool {
            guard storeSucceeds else { return false }
            stored.append(paired)
            return true
        }
        func pairingAbandoned(by remote: String) { events.append("abandoned by \(remote)") }
        func joinSucceeded(_ paired: PairedPeer, target: PeerAddress, reply: PairingReplyTarget) { joined.append((paired, target)) }
        func guestChannelStep() -> GuestChannelStep { guestStep }

        /// Knows `other` as a paired peer with this PSK.
        func pair(with other: Authority, psk: [UInt8]) {
            peers.append(StoredPeer(identity: other.identity.deviceIdentity, psk: psk, addresses: []))
        }
    }

    /// A `clipd pair` client.
    final class Client: PairingReplyTarget {
        var interim: [ControlResponse] = []
        var answers: [ControlResponse] = []
        func reply(_ response: ControlResponse, payload: [UInt8]) { interim.append(response) }
        func finish(_ response: ControlResponse, payload: [UInt8]) { answers.append(response) }
        var failure: String? { answers.first.flatMap { $0.ok ? nil : $0.error } }
    }

    /// One end: its machine and everything it did other than writing.
    final class End {
        let handshake: PeerHandshake
        var actions: [Output] = []
        var closed = false
        init(_ handshake: PeerHandshake) { self.handshake = handshake }

        var established: PeerHandshake.Established? {
            for case .established(let done) in actions { return done }
            return nil
        }
        var closeReasons: [String?] {
            actions.compactMap {
                switch $0 {
                case .close(let reason): reason
                case .closeAfterWrites: "after writes"
                default: nil
                }
            }
        }
    }

    /// Delivers each side's frames to the other until both are quiet; a side that closes
    /// gets nothing more, and the other then sees a clean close once its bytes are read.
    static func run(_ a: End, _ b: End, first aOutputs: [Output], _ bOutputs: [Output]) {
        var toB = take(aOutputs, by: a)
        var toA = take(bOutputs, by: b)
        while !toA.isEmpty || !toB.isEmpty {
            toA += deliver(&toB, to: b)
            toB += deliver(&toA, to: a)
        }
        if a.closed != b.closed {
            let survivor = a.closed ? b : a
            survivor.handshake.closed(reason: nil)
            survivor.closed = true
        }
    }

    /// Hands the bytes waiting for `end` over (they are dropped once it closed); returns
    /// what it writes back.
    static func deliver(_ waiting: inout [UInt8], to end: End) -> [UInt8] {
        let bytes = waiting
        waiting = []
        guard !bytes.isEmpty, !end.closed else { return [] }
        return take(end.handshake.received(bytes, writable: true), by: end)
    }

    /// The bytes `outputs` write; records the rest on `end`.
    static func take(_ outputs: [Output], by end: End) -> [UInt8] {
        var bytes: [UInt8] = []
        for output in outputs {
            switch output {
            case .write(let frame): bytes += frame.encoded()
            case .close, .closeAfterWrites:
                end.actions.append(output)
                end.closed = true
            default: end.actions.append(output)
            }
        }
        return bytes
    }

    static func writes(_ outputs: [Output]) -> [HandshakeFrame] {
        outputs.compactMap { if case .write(let frame) = $0 { frame } else { nil } }
    }

    let alice = Authority("alice")
    let bob = Authority("bob")

    // MARK: Noise

    @Test func aPairedPeerEstablishesMatchingKeysAndTheFirstRecordsComeAlong() throws {
        let psk = SecureRandom.bytes(32)
        alice.pair(with: bob, psk: psk)
        bob.pair(with: alice, psk: psk)
        let dialer = End(PeerHandshake(role: .initiator(alice.peers[0]), authority: alice, remote: "bob:7777"))
        let listener = End(PeerHandshake(role: .responder, authority: bob, remote: "alice"))
        Self.run(dialer, listener, first: dialer.handshake.connected(), listener.handshake.connected())

        let mine = try #require(dialer.established)
        let theirs = try #require(listener.established)
        #expect(mine.keys.sendKey == theirs.keys.receiveKey && mine.keys.receiveKey == theirs.keys.sendKey)
        #expect(mine.peer.name == "bob" && theirs.peer.name == "alice")
        #expect(mine.initiatorDevice == alice.identity.deviceID && theirs.initiatorDevice == alice.identity.deviceID)
        // The dialer authenticated the listener through message 2; the listener waits for a record.
        #expect(mine.authenticated && !theirs.authenticated)
        #expect(mine.timestamp == nil && theirs.timestamp == 1_001)
        #expect(!dialer.handshake.isHandshaking && !listener.handshake.isHandshaking)
        #expect(dialer.closeReasons.isEmpty && listener.closeReasons.isEmpty)

    }

    @Test func recordsSentRightAfterMessage2ArriveAsLeftoverAndOpenOnTheOtherSide() throws {
        let psk = SecureRandom.bytes(32)
        alice.pair(with: bob, psk: psk)
        bob.pair(with: alice, psk: psk)
        let dialer = PeerHandshake(role: .initiator(alice.peers[0]), authority: alice, remote: "bob:7777")
        let listener = PeerHandshake(role: .responder, authority: bob, remote: "alice")
        let message1 = Self.writes(dialer.connected())
        _ = listener.connected()
        let answer = listener.received(message1.flatMap { $0.encoded() }, writable: true)
        let listenerKeys = try #require(Self.established(in: answer))

        // The listener's first record goes out right behind message 2, in the same read.
        let listenerRecords = try RecordStream(keys: listenerKeys.keys, maximumPlaintext: PeerConnection.maximumRecordPlaintext)
        let sink = BufferSink()
        #expect(try listenerRecords.send(.ping(token: 42), to: sink, flush: true))
        let read = Self.writes(answer).flatMap { $0.encoded() } + sink.bytes
        let dialerKeys = try #require(Self.established(in: dialer.received(read, writable: true)))
        #expect(dialerKeys.leftover == sink.bytes)

        let dialerRecords = try RecordStream(keys: dialerKeys.keys, maximumPlaintext: PeerConnection.maximumRecordPlaintext)
        var incoming = ByteBuffer(bytes: dialerKeys.leftover)
        var opened: [SessionMessage] = []
        try dialerRecords.ingest(&incoming) { opened.append($0); return true }
        #expect(opened == [.ping(token: 42)])

        // And the other way, split across two reads.
        let back = BufferSink()
        #expect(try dialerRecords.send(.pong(token: 7), to: back, flush: true))
        opened = []
        var head = ByteBuffer(bytes: back.bytes.prefix(5)), tail = ByteBuffer(bytes: back.bytes.dropFirst(5))
        try listenerRecords.ingest(&head) { opened.append($0); return true }
        #expect(opened.isEmpty)
        try listenerRecords.ingest(&tail) { opened.append($0); return true }
        #expect(opened == [.pong(token: 7)])

        // A record changed in flight does not open.
        let forged = BufferSink()
        #expect(try dialerRecords.send(.ping(token: 9), to: forged, flush: true))
        forged.bytes[forged.bytes.count - 1] ^= 1
        var bad = ByteBuffer(bytes: forged.bytes)
        #expect(throws: CryptoError.authenticationFailed) { try listenerRecords.ingest(&bad) { _ in true } }
    }

    // MARK: Noise refusals

    @Test func anUnknownKeyIsDroppedWithoutAWord() throws {
        let psk = SecureRandom.bytes(32)
        alice.pair(with: bob, psk: psk)  // bob does not know alice
        let dialer = End(PeerHandshake(role: .initiator(alice.peers[0]), authority: alice, remote: "bob:7777"))
        let listener = End(PeerHandshake(role: .responder, authority: bob, remote: "alice"))
        let fromListener = listener.handshake.connected()
        #expect(Self.writes(fromListener).isEmpty)
        Self.run(dialer, listener, first: dialer.handshake.connected(), fromListener)
        #expect(listener.closeReasons == ["a handshake from an unknown key"])
        #expect(listener.established == nil && dialer.established == nil)
        #expect(bob.events.isEmpty)
    }

    @Test func garbageInMessage1IsAnUnknownKeyAndAnotherFirstFrameIsAFailure() {
        let psk = SecureRandom.bytes(32)
        bob.pair(with: alice, psk: psk)
        let listener = PeerHandshake(role: .responder, authority: bob, remote: "x")
        let noise = listener.received(HandshakeFrame(kind: .noiseInit, body: SecureRandom.bytes(96)).encoded(), writable: true)
        #expect(Self.writes(noise).isEmpty)
        #expect(noise.contains { if case .close(let reason) = $0 { reason == "a handshake from an unknown key" } else { false } })
        #expect(!listener.isHandshaking)

        let other = PeerHandshake(role: .responder, authority: bob, remote: "x")
        let wrong = other.received(HandshakeFrame(kind: .pairConfirm, body: [1, 2, 3]).encoded(), writable: true)
        #expect(Self.writes(wrong).isEmpty)
        #expect(wrong.contains { if case .close(let reason?) = $0 { reason.hasPrefix("handshake failed:") && reason.contains("first frame") } else { false } })

        let oversized = PeerHandshake(role: .responder, authority: bob, remote: "x")
        let huge = oversized.received([0x10, 0xff, 0xff, 0xff, 0xff], writable: true)
        #expect(huge.contains { if case .close(let reason?) = $0 { reason.hasPrefix("handshake failed:") } else { false } })
    }

    @Test func aReplayedMessage1IsDroppedWithAWarningAndNoAnswer() throws {
        let psk = SecureRandom.bytes(32)
        alice.pair(with: bob, psk: psk)
        bob.pair(with: alice, psk: psk)
        bob.replayProblem = "a replayed handshake"
        let dialer = PeerHandshake(role: .initiator(alice.peers[0]), authority: alice, remote: "bob")
        let listener = PeerHandshake(role: .responder, authority: bob, remote: "alice")
        let answer = listener.received(Self.writes(dialer.connected()).flatMap { $0.encoded() }, writable: true)
        #expect(Self.writes(answer).isEmpty)
        #expect(Self.established(in: answer) == nil)
        #expect(answer.contains { if case .warn(let text, let peer) = $0 { text == "dropped a replayed handshake" && peer == "alice" } else { false } })
        #expect(answer.contains { if case .close(nil) = $0 { true } else { false } })
    }

    @Test func aListenerWithOtherKeysIsRejectedByTheDialer() {
        alice.pair(with: bob, psk: SecureRandom.bytes(32))
        bob.pair(with: alice, psk: SecureRandom.bytes(32))  // a stale pairing on one side
        let dialer = End(PeerHandshake(role: .initiator(alice.peers[0]), authority: alice, remote: "bob:7777"))
        let listener = End(PeerHandshake(role: .responder, authority: bob, remote: "alice"))
        Self.run(dialer, listener, first: dialer.handshake.connected(), listener.handshake.connected())
        #expect(dialer.established == nil)
        #expect(alice.events == ["rejected by bob"])
        #expect(dialer.closeReasons.count == 1 && dialer.closeReasons[0]?.hasPrefix("handshake failed:") == true)
        // The listener thinks it established, but it never registers: no record will open.
        #expect(listener.established?.authenticated == false)
    }

    @Test func aDialerThatGetsNoAnswerTimesOut() {
        alice.pair(with: bob, psk: SecureRandom.bytes(32))
        let dialer = PeerHandshake(role: .initiator(alice.peers[0]), authority: alice, remote: "bob")
        let start = dialer.connected()
        #expect(start.contains { if case .armTimer = $0 { true } else { false } })
        let end = dialer.timedOut()
        #expect(end.contains { if case .close("handshake timed out") = $0 { true } else { false } })
    }

    @Test func aResponderAnswersAMessageSplitAcrossReads() throws {
        let psk = SecureRandom.bytes(32)
        alice.pair(with: bob, psk: psk)
        bob.pair(with: alice, psk: psk)
        let dialer = PeerHandshake(role: .initiator(alice.peers[0]), authority: alice, remote: "bob")
        let listener = PeerHandshake(role: .responder, authority: bob, remote: "alice")
        let bytes = Self.writes(dialer.connected()).flatMap { $0.encoded() }
        var answer: [Output] = []
        for byte in bytes { answer += listener.received([byte], writable: true) }
        #expect(Self.established(in: answer) != nil)
        #expect(Self.writes(answer).map(\.kind) == [.noiseResponse])
    }

    // MARK: Pairing

    /// `bob` joining `alice` with `code`, and the `clipd pair` client waiting on it.
    func makeJoiner(typing code: PairingCode) throws -> (PeerHandshake, Client) {
        let client = Client()
        let initiator = try PairingInitiator(code: code, local: bob.identity.deviceIdentity, key: bob.identity.key)
        return (PeerHandshake(role: .pairingInitiator(initiator, target: .network("alice:7777"), reply: client), authority: bob, remote: "alice:7777"), client)
    }

    /// A listener with `alice`'s window open and a joiner `bob` typing `code`.
    func pair(code: PairingCode, window: PairingCode?) throws -> (joiner: End, listener: End, client: Client) {
        alice.window = window
        let (handshake, client) = try makeJoiner(typing: code)
        let joiner = End(handshake)
        let listener = End(PeerHandshake(role: .responder, authority: alice, remote: "10.0.0.2:5000"))
        Self.run(joiner, listener, first: joiner.handshake.connected(), listener.handshake.connected())
        return (joiner, listener, client)
    }

    @Test func pairingWithTheRightCodeStoresBothSides() throws {
        let code = PairingCode.generate()
        let (joiner, listener, client) = try pair(code: code, window: code)
        #expect(alice.stored.map(\.identity.name) == ["bob"])
        #expect(bob.joined.map(\.0.identity.name) == ["alice"] && bob.joined.map(\.1) == [.network("alice:7777")])
        #expect(alice.stored.first?.psk == bob.joined.first?.0.psk)
        #expect(alice.events == ["code asked by 10.0.0.2:5000"])
        #expect(listener.closeReasons == ["after writes"] && joiner.established == nil && listener.established == nil)
        #expect(client.answers.isEmpty)  // joinSucceeded answers it, after storing
    }

    @Test func aWrongCodeFailsOnBothSidesAndStoresNothing() throws {
        let (joiner, listener, client) = try pair(code: PairingCode.generate(), window: PairingCode.generate())
        #expect(alice.stored.isEmpty && bob.joined.isEmpty)
        #expect(alice.events.contains("pairing failed: \(PairingError.codeMismatch)"))
        #expect(client.failure == PairingError.codeMismatch.description)
        #expect(client.answers.count == 1)
        #expect(joiner.closed && listener.closed)
    }

    @Test func noWindowAndASpoiledCodeAreRefusedBeforeAnyCryptography() throws {
        let (_, listener, client) = try pair(code: PairingCode.generate(), window: nil)
        #expect(listener.closeReasons == ["after writes"])
        #expect(client.failure == PairingError.windowClosed.description)

        alice.codeTaken = true
        let (_, _, second) = try pair(code: PairingCode.generate(), window: PairingCode.generate())
        #expect(second.failure == PairingError.codeTaken.description)
        #expect(alice.stored.isEmpty && bob.joined.isEmpty)
    }

    @Test func aListenerThatCannotSaveTellsTheJoinerWhichStoresNothing() throws {
        alice.storeSucceeds = false
        let code = PairingCode.generate()
        let (_, _, client) = try pair(code: code, window: code)
        #expect(bob.joined.isEmpty)
        #expect(client.failure == PairingError.protocolViolation("the other device could not save the pairing").description)
        #expect(client.answers.count == 1)
    }

    @Test func aJoinerWhoseListenerDropsAfterDoneStoresNothing() throws {
        let code = PairingCode.generate()
        alice.window = code
        let (joiner, client) = try makeJoiner(typing: code)
        let listener = PeerHandshake(role: .responder, authority: alice, remote: "bob")
        var toListener = Self.writes(joiner.connected())
        // Run until the joiner has sent PAIR_DONE, then lose the connection without a clean close.
        while !toListener.isEmpty, !toListener.contains(where: { $0.kind == .pairDone }) {
            let answer = Self.writes(listener.received(toListener.flatMap { $0.encoded() }, writable: true))
            toListener = Self.writes(joiner.received(answer.flatMap { $0.encoded() }, writable: true))
        }
        #expect(toListener.map(\.kind) == [.pairDone])
        joiner.closed(reason: "connection reset")
        #expect(bob.joined.isEmpty)
        #expect(client.failure?.contains("did not confirm it saved the pairing (connection reset)") == true)
    }

    @Test func aCodeTakenAndLeftUnconfirmedIsAbandonedAndATimeoutTellsTheJoinerOnce() throws {
        let code = PairingCode.generate()
        alice.window = code
        let (joiner, client) = try makeJoiner(typing: code)
        let listener = PeerHandshake(role: .responder, authority: alice, remote: "10.0.0.9:1")
        let start = Self.writes(joiner.connected())
        let reply = listener.received(start.flatMap { $0.encoded() }, writable: true)
        #expect(Self.writes(reply).map(\.kind) == [.pairReply])
        #expect(listener.isPairing)
        listener.closed(reason: "handshake timed out")
        #expect(alice.events.last == "abandoned by 10.0.0.9:1")

        let out = joiner.timedOut()
        joiner.closed(reason: "handshake timed out")
        #expect(client.answers.count == 1)
        #expect(client.failure == "pairing failed: timed out waiting for the other device")
        #expect(out.contains { if case .close("handshake timed out") = $0 { true } else { false } })
    }

    // MARK: VM channel hellos

    @Test func theHostSaysHelloAndRepeatsItOnlyWhenAskedWritableAndUnstarted() {
        let host = PeerHandshake(role: .channelHost(attachID: [1, 2, 3, 4]), authority: alice, remote: "virtio")
        let hello = host.connected()
        #expect(Self.writes(hello) == [HandshakeFrame(kind: .channelHello, body: [1, 2, 3, 4])])
        #expect(!hello.contains { if case .armTimer = $0 { true } else { false } })  // a guest may take minutes

        let ask = HandshakeFrame(kind: .channelHelloRequest, body: []).encoded()
        #expect(Self.writes(host.received(ask, writable: false)).isEmpty)  // owed, not queued
        #expect(Self.writes(host.becameWritable()).map(\.kind) == [.channelHello])
        #expect(Self.writes(host.becameWritable()).isEmpty)  // once
        // Two requests in one read earn one hello.
        #expect(Self.writes(host.received(ask + ask, writable: true)).count == 1)
    }

    @Test func theGuestIgnoresStaleBytesWaitsUnpairedAndStartsOverAtEachNewAttach() throws {
        let psk = SecureRandom.bytes(32)
        bob.pair(with: alice, psk: psk)  // bob is the guest, alice the host
        alice.pair(with: bob, psk: psk)
        let guest = PeerHandshake(role: .channelGuest, authority: bob, remote: "virtio")
        #expect(Self.writes(guest.connected()).map(\.kind) == [.channelHelloRequest])
        // Bytes left in the port from an earlier boot, then a first hello while unpaired.
        let stale = HandshakeFrame(kind: .noiseResponse, body: [9, 9]).encoded() + [0x00, 0x13]
        let waiting = guest.received(stale + HandshakeFrame(kind: .channelHello, body: [1]).encoded(), writable: true)
        #expect(Self.writes(waiting).isEmpty)
        #expect(guest.isHandshaking)

        // The next attach finds it paired: it starts the Noise handshake with the host.
        bob.guestStep = .handshake(bob.peers[0])
        let start = guest.received(HandshakeFrame(kind: .channelHello, body: [2]).encoded(), writable: true)
        #expect(Self.writes(start).map(\.kind) == [.noiseInit])
        // The same attach id again is the same attach: nothing restarts.
        #expect(Self.writes(guest.received(HandshakeFrame(kind: .channelHello, body: [2]).encoded(), writable: true)).isEmpty)
        // A new one restarts the handshake.
        let again = guest.received(HandshakeFrame(kind: .channelHello, body: [3]).encoded(), writable: true)
        let message1 = Self.writes(again)
        #expect(message1.map(\.kind) == [.noiseInit])

        let host = PeerHandshake(role: .channelHost(attachID: [3]), authority: alice, remote: "virtio")
        _ = host.connected()
        let answer = host.received(message1.flatMap { $0.encoded() }, writable: true)
        let hostSide = try #require(Self.established(in: answer))
        let guestSide = try #require(Self.established(in: guest.received(Self.writes(answer).flatMap { $0.encoded() }, writable: true)))
        #expect(guestSide.authenticated && !hostSide.authenticated)
        #expect(guestSide.keys.sendKey == hostSide.keys.receiveKey)
        #expect(guestSide.initiatorDevice == bob.identity.deviceID)
    }

    @Test func aChannelHandshakeDoesNotOpenOverTCP() {
        let psk = SecureRandom.bytes(32)
        alice.pair(with: bob, psk: psk)
        bob.pair(with: alice, psk: psk)
        bob.guestStep = .handshake(bob.peers[0])
        let guest = PeerHandshake(role: .channelGuest, authority: bob, remote: "virtio")
        _ = guest.connected()
        let message1 = Self.writes(guest.received(HandshakeFrame(kind: .channelHello, body: [1]).encoded(), writable: true))
        // The prologue binds the transport: a TCP responder cannot read a channel's message 1.
        let tcp = PeerHandshake(role: .responder, authority: alice, remote: "x")
        let answer = tcp.received(message1.flatMap { $0.encoded() }, writable: true)
        #expect(Self.established(in: answer) == nil)
    }

    @Test func theHostRestartingDuringGuestPairingTellsTheClientOnce() throws {
        let client = Client()
        bob.guestStep = .pair(try PairingInitiator(code: PairingCode.generate(), local: bob.identity.deviceIdentity, key: bob.identity.key), client)
        let guest = PeerHandshake(role: .channelGuest, authority: bob, remote: "virtio")
        _ = guest.connected()
        let start = guest.received(HandshakeFrame(kind: .channelHello, body: [1]).encoded(), writable: true)
        #expect(Self.writes(start).map(\.kind) == [.pairStart])
        let restart = guest.received(HandshakeFrame(kind: .channelHello, body: [2]).encoded(), writable: true)
        #expect(restart.contains { if case .close("the host's end of the channel restarted during pairing") = $0 { true } else { false } })
        guest.closed(reason: "the host's end of the channel restarted during pairing")
        #expect(client.answers.count == 1)
        #expect(client.failure == "pairing failed: the host's end of the channel restarted; run both commands again")
    }

    static func established(in outputs: [Output]) -> PeerHandshake.Established? {
        for case .established(let done) in outputs { return done }
        return nil
    }
}

/// A record sink that keeps what is written.
final class BufferSink: RecordSink {
    var bytes: [UInt8] = []
    var isWritable = true
    let allocator = ByteBufferAllocator()
    func write(_ buffer: ByteBuffer, flush: Bool) { bytes += buffer.readableBytesView }
    func flush() {}
}

/// Replay protection on message 1's timestamps, with a hand-set clock.
@Suite("Handshake timestamps: issued in order, replays and far-future stamps refused")
struct HandshakeReplayGuardTests {
    final class Clock {
        var now: UInt64 = 1_000_000_000_000
    }

    @Test func issuedTimestampsGrowEvenWhenTheClockStandsStillOrGoesBack() {
        let clock = Clock()
        var guardian = HandshakeReplayGuard(now: { clock.now })
        let first = guardian.issue()
        let second = guardian.issue()
        clock.now -= 10_000
        let third = guardian.issue()
        #expect(first == clock.now + 10_000 && second == first + 1 && third == second + 1)
    }

    @Test func onlyANewerTimestampThanTheLastRecordedIsAccepted() {
        let clock = Clock()
        var guardian = HandshakeReplayGuard(now: { clock.now })
        let peer = DeviceID(bytes: Array(repeating: 7, count: DeviceID.byteCount))
        let other = DeviceID(bytes: Array(repeating: 8, count: DeviceID.byteCount))
        #expect(guardian.problem(with: clock.now - 5, from: peer) == nil, "nothing recorded yet")
        guardian.record(clock.now - 5, from: peer)
        #expect(guardian.problem(with: clock.now - 5, from: peer) == "a replayed handshake")
        #expect(guardian.problem(with: clock.now - 6, from: peer) == "a replayed handshake")
        #expect(guardian.problem(with: clock.now - 4, from: peer) == nil)
        #expect(guardian.problem(with: clock.now - 6, from: other) == nil, "per peer")
        // Recording an older one never moves the mark back.
        guardian.record(clock.now - 100, from: peer)
        #expect(guardian.problem(with: clock.now - 5, from: peer) == "a replayed handshake")
    }

    @Test func aStampMoreThanFiveMinutesAheadIsRefusedAndNamesTheClocks() {
        let clock = Clock()
        let guardian = HandshakeReplayGuard(now: { clock.now })
        let peer = DeviceID(bytes: Array(repeating: 7, count: DeviceID.byteCount))
        #expect(guardian.problem(with: clock.now + HandshakeReplayGuard.allowedAhead, from: peer) == nil)
        let problem = guardian.problem(with: clock.now + HandshakeReplayGuard.allowedAhead + 1_000_000_000, from: peer)
        #expect(problem == "a handshake stamped 301 s ahead of this machine's clock (more than 5 minutes): fix the clocks")
    }
}
