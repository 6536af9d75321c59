import ClipCrypto
import ClipWire
import Testing

@Suite("Pairing codes and the pairing exchange")
struct PairingTests {
    let aliceKey = X25519PrivateKey.generate()
    let bobKey = X25519PrivateKey.generate()
    var alice: DeviceIdentity { DeviceIdentity(staticPublicKey: aliceKey.publicKey, name: "alice") }
    var bob: DeviceIdentity { DeviceIdentity(staticPublicKey: bobKey.publicKey, name: "bob") }

    @Test func codeRoundTripsThroughText() throws {
        for _ in 0..<50 {
            let code = PairingCode.generate()
            #expect(try PairingCode(parsing: code.description) == code)
            #expect(try PairingCode(parsing: code.description.uppercased().replacingOccurrences(of: "-", with: " ")) == code)
            #expect(code.description.split(separator: "-").count == 4)
        }
        #expect(PairingCode(secret: [0, 0, 255, 255]).description == "aardvark-adroitness-zulu-yucatan")
    }

    @Test func malformedCodesGiveOneLineReasons() {
        #expect(throws: PairingCodeError.self) { try PairingCode(parsing: "aardvark-adroitness-zulu") }
        do {
            _ = try PairingCode(parsing: "adroitness-aardvark-zulu-yucatan")
            Issue.record("swapped words accepted")
        } catch {
            #expect(error.description.contains("swapped"))
            #expect(!error.description.contains("\n"))
        }
        do {
            _ = try PairingCode(parsing: "aardvark-adroitness-zulu-banana")
            Issue.record("unknown word accepted")
        } catch {
            #expect(error.description == "malformed code: 'banana' is not a code word")
        }
    }

    func run(initiatorCode: PairingCode, responderCode: PairingCode) throws -> (PairedPeer?, PairedPeer?, Error?, Error?) {
        let initiator = try PairingInitiator(code: initiatorCode, local: alice, key: aliceKey)
        let (peerID, pA) = try PairingResponder.parseStart(initiator.start())
        let responder = try PairingResponder(code: responderCode, local: bob, key: bobKey, peer: peerID, peerMessage: pA)
        let confirm: HandshakeFrame
        do {
            confirm = try #require(try initiator.handle(responder.reply).send)
        } catch {
            // Initiator saw the mismatch: it tells the responder, which reports the same.
            var responderError: Error?
            do { _ = try responder.handleConfirm(PairingInitiator.codeMismatchFrame) } catch let e { responderError = e }
            return (nil, nil, error, responderError)
        }
        let (finish, paidAtResponder) = try responder.handleConfirm(confirm)
        let (done, pairedAtInitiator) = try initiator.handle(finish)
        try responder.handleDone(try #require(done))
        return (pairedAtInitiator, paidAtResponder, nil, nil)
    }

    @Test func rightCodePairsBothSidesWithTheSamePSK() throws {
        let code = PairingCode.generate()
        let (atAlice, atBob, _, _) = try run(initiatorCode: code, responderCode: code)
        let bobAsSeen = try #require(atAlice)
        let aliceAsSeen = try #require(atBob)
        #expect(bobAsSeen.identity == bob)
        #expect(aliceAsSeen.identity == alice)
        #expect(bobAsSeen.psk == aliceAsSeen.psk)
        #expect(bobAsSeen.psk.count == 32)
    }

    @Test func wrongCodeFailsOnBothSidesWithTheSameMessage() throws {
        let (atAlice, atBob, aliceError, bobError) = try run(initiatorCode: PairingCode(secret: [1, 2, 3, 4]), responderCode: PairingCode(secret: [1, 2, 3, 5]))
        #expect(atAlice == nil && atBob == nil)
        let a = try #require(aliceError as? PairingError)
        let b = try #require(bobError as? PairingError)
        #expect(a == .codeMismatch && b == .codeMismatch)
        #expect(a.description == "pairing failed: the code did not match")
        #expect(a.description == b.description)
    }

    @Test func tamperedConfirmationIsACodeMismatchAtTheResponder() throws {
        let code = PairingCode.generate()
        let initiator = try PairingInitiator(code: code, local: alice, key: aliceKey)
        let (peerID, pA) = try PairingResponder.parseStart(initiator.start())
        let responder = try PairingResponder(code: code, local: bob, key: bobKey, peer: peerID, peerMessage: pA)
        let confirm = try #require(try initiator.handle(responder.reply).send)
        var body = confirm.body
        body[0] ^= 1
        #expect(throws: PairingError.codeMismatch) { try responder.handleConfirm(HandshakeFrame(kind: .pairConfirm, body: body)) }
    }

    @Test func invalidSPAKEPointIsRefused() throws {
        let start = HandshakeFrame(kind: .pairStart, body: alice.deviceID.bytes + [0x04] + [UInt8](repeating: 0, count: 64))
        let (peerID, pA) = try PairingResponder.parseStart(start)
        #expect(throws: PairingError.self) { try PairingResponder(code: PairingCode.generate(), local: bob, key: bobKey, peer: peerID, peerMessage: pA) }
    }

    @Test func startWithWrongLengthDoesNotParse() {
        #expect(throws: (any Error).self) { try PairingResponder.parseStart(HandshakeFrame(kind: .pairStart, body: [1, 2, 3])) }
    }

    /// Review finding 9: the identity sealed in pairing named a static key, and nothing
    /// showed its sender held the private half. Each side now proves it with an X25519 of its
    /// static key and the other's ephemeral key: a joiner claiming another device's key fails.
    @Test func aJoinerClaimingAKeyItDoesNotHoldIsRefused() throws {
        let code = PairingCode.generate()
        let victim = DeviceIdentity(staticPublicKey: X25519PrivateKey.generate().publicKey, name: "victim")
        let impostor = try PairingInitiator(code: code, local: victim, key: aliceKey)
        let (peerID, pA) = try PairingResponder.parseStart(impostor.start())
        let responder = try PairingResponder(code: code, local: bob, key: bobKey, peer: peerID, peerMessage: pA)
        let confirm = try #require(try impostor.handle(responder.reply).send)
        #expect(throws: PairingError.protocolViolation("the peer does not hold the key it claims")) { try responder.handleConfirm(confirm) }
    }

    @Test func aListenerClaimingAKeyItDoesNotHoldIsRefused() throws {
        let code = PairingCode.generate()
        let initiator = try PairingInitiator(code: code, local: alice, key: aliceKey)
        let (peerID, pA) = try PairingResponder.parseStart(initiator.start())
        let victim = DeviceIdentity(staticPublicKey: X25519PrivateKey.generate().publicKey, name: "victim")
        let impostor = try PairingResponder(code: code, local: victim, key: bobKey, peer: peerID, peerMessage: pA)
        let confirm = try #require(try initiator.handle(impostor.reply).send)
        let (finish, _) = try impostor.handleConfirm(confirm)
        #expect(throws: PairingError.protocolViolation("the peer does not hold the key it claims")) { try initiator.handle(finish) }
    }

    /// Review finding 9: the listener stores only once PAIR_DONE shows the joiner verified
    /// it; a forged or missing PAIR_DONE leaves it nothing to store.
    @Test func theListenerWaitsForAValidDone() throws {
        let code = PairingCode.generate()
        let initiator = try PairingInitiator(code: code, local: alice, key: aliceKey)
        let (peerID, pA) = try PairingResponder.parseStart(initiator.start())
        let responder = try PairingResponder(code: code, local: bob, key: bobKey, peer: peerID, peerMessage: pA)
        let confirm = try #require(try initiator.handle(responder.reply).send)
        let (finish, _) = try responder.handleConfirm(confirm)
        let done = try #require(try initiator.handle(finish).send)
        #expect(done.kind == .pairDone)
        var forged = done.body
        forged[5] ^= 0x40
        #expect(throws: PairingError.self) { try responder.handleDone(HandshakeFrame(kind: .pairDone, body: forged)) }
        #expect(throws: PairingError.self) { try responder.handleDone(HandshakeFrame(kind: .pairConfirm, body: done.body)) }
        #expect(throws: Never.self) { try responder.handleDone(done) }
    }

    /// Review finding 10: a peer's name is printed in logs, `clipd peers` and `--wait`
    /// messages; escape sequences and bidi overrides in it used to reach the terminal as sent.
    @Test func namesFromOtherDevicesArePrintable() {
        let hostile = DeviceIdentity(staticPublicKey: aliceKey.publicKey, name: "lap\u{1b}[2Jtop\u{202e}gpj.exe\n\u{7}")
        #expect(hostile.name == "lap?[2Jtop?gpj.exe??")
        #expect(DeviceIdentity(staticPublicKey: aliceKey.publicKey, name: "Anna’s Mac — 東京").name == "Anna’s Mac — 東京")
    }
}
