import ClipCrypto
import ClipWire
import Testing

@Suite("Pairing codes and the pairing exchange")
struct PairingTests {
    let alice = DeviceIdentity(staticPublicKey: X25519PrivateKey.generate().publicKey, name: "alice")
    let bob = DeviceIdentity(staticPublicKey: X25519PrivateKey.generate().publicKey, name: "bob")

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
        let initiator = try PairingInitiator(code: initiatorCode, local: alice)
        let (peerID, pA) = try PairingResponder.parseStart(initiator.start())
        let responder = try PairingResponder(code: responderCode, local: bob, peer: peerID, peerMessage: pA)
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
        let (_, pairedAtInitiator) = try initiator.handle(finish)
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
        let initiator = try PairingInitiator(code: code, local: alice)
        let (peerID, pA) = try PairingResponder.parseStart(initiator.start())
        let responder = try PairingResponder(code: code, local: bob, peer: peerID, peerMessage: pA)
        let confirm = try #require(try initiator.handle(responder.reply).send)
        var body = confirm.body
        body[0] ^= 1
        #expect(throws: PairingError.codeMismatch) { try responder.handleConfirm(HandshakeFrame(kind: .pairConfirm, body: body)) }
    }

    @Test func invalidSPAKEPointIsRefused() throws {
        let start = HandshakeFrame(kind: .pairStart, body: alice.deviceID.bytes + [0x04] + [UInt8](repeating: 0, count: 64))
        let (peerID, pA) = try PairingResponder.parseStart(start)
        #expect(throws: PairingError.self) { try PairingResponder(code: PairingCode.generate(), local: bob, peer: peerID, peerMessage: pA) }
    }

    @Test func startWithWrongLengthDoesNotParse() {
        #expect(throws: (any Error).self) { try PairingResponder.parseStart(HandshakeFrame(kind: .pairStart, body: [1, 2, 3])) }
    }
}
