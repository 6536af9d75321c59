@testable import ClipCrypto
import ClipTestSupport
import Testing

@Suite("Noise IKpsk2 against the cacophony vector")
struct NoiseTests {
    let v = try! VectorFile(named: "noise-ikpsk2.txt").record("cacophony")

    @Test func handshakeAndTransportMatchCacophony() throws {
        let initiatorStatic = try X25519PrivateKey(rawRepresentation: v.hex("init_static"))
        let responderStatic = try X25519PrivateKey(rawRepresentation: v.hex("resp_static"))
        let initiator = try NoiseIKpsk2Initiator(
            prologue: v.hex("prologue"), localStatic: initiatorStatic, remoteStatic: responderStatic.publicKey,
            psk: v.hex("psk"), testingEphemeral: try X25519PrivateKey(rawRepresentation: v.hex("init_ephemeral")))
        let responder = NoiseIKpsk2Responder(
            prologue: v.hex("prologue"), localStatic: responderStatic,
            testingEphemeral: try X25519PrivateKey(rawRepresentation: v.hex("resp_ephemeral")))

        let message1 = try initiator.writeMessage1(payload: v.hex("payload1"))
        #expect(message1 == v.hex("ciphertext1"))
        let (rs, payload1) = try responder.readMessage1(message1)
        #expect(rs == initiatorStatic.publicKey)
        #expect(payload1 == v.hex("payload1"))

        let (message2, responderKeys) = try responder.writeMessage2(payload: v.hex("payload2"), psk: v.hex("psk"))
        #expect(message2 == v.hex("ciphertext2"))
        let (payload2, initiatorKeys) = try initiator.readMessage2(message2)
        #expect(payload2 == v.hex("payload2"))
        #expect(initiatorKeys.sendKey == responderKeys.receiveKey)
        #expect(initiatorKeys.receiveKey == responderKeys.sendKey)
        #expect(initiatorKeys.handshakeHash == responderKeys.handshakeHash)

        // Transport messages: Noise's own format (nonce counts from 0 per direction, empty AD).
        let toResponder = try AESGCM256(key: initiatorKeys.sendKey, direction: .seal)
        let toInitiator = try AESGCM256(key: responderKeys.sendKey, direction: .seal)
        #expect(try toResponder.seal(nonce: AESGCM256.counterNonce(0), aad: [], plaintext: v.hex("payload3")) == v.hex("ciphertext3"))
        #expect(try toInitiator.seal(nonce: AESGCM256.counterNonce(0), aad: [], plaintext: v.hex("payload4")) == v.hex("ciphertext4"))
        #expect(try toResponder.seal(nonce: AESGCM256.counterNonce(1), aad: [], plaintext: v.hex("payload5")) == v.hex("ciphertext5"))
        #expect(try toInitiator.seal(nonce: AESGCM256.counterNonce(1), aad: [], plaintext: v.hex("payload6")) == v.hex("ciphertext6"))
    }

    @Test func wrongPSKFailsMessage2() throws {
        let i = X25519PrivateKey.generate(), r = X25519PrivateKey.generate()
        let initiator = try NoiseIKpsk2Initiator(prologue: [1], localStatic: i, remoteStatic: r.publicKey, psk: [UInt8](repeating: 1, count: 32))
        let responder = NoiseIKpsk2Responder(prologue: [1], localStatic: r)
        _ = try responder.readMessage1(try initiator.writeMessage1(payload: []))
        let (message2, _) = try responder.writeMessage2(payload: [], psk: [UInt8](repeating: 2, count: 32))
        #expect(throws: CryptoError.authenticationFailed) { try initiator.readMessage2(message2) }
    }

    @Test func differentProloguesNeverAgree() throws {
        let i = X25519PrivateKey.generate(), r = X25519PrivateKey.generate()
        let initiator = try NoiseIKpsk2Initiator(prologue: Array("clipd/1 tcp".utf8), localStatic: i, remoteStatic: r.publicKey, psk: [UInt8](repeating: 1, count: 32))
        let responder = NoiseIKpsk2Responder(prologue: Array("clipd/1 virtio".utf8), localStatic: r)
        #expect(throws: CryptoError.authenticationFailed) { try responder.readMessage1(try initiator.writeMessage1(payload: [])) }
    }

    @Test func tamperedMessage1IsRejected() throws {
        let i = X25519PrivateKey.generate(), r = X25519PrivateKey.generate()
        let initiator = try NoiseIKpsk2Initiator(prologue: [], localStatic: i, remoteStatic: r.publicKey, psk: [UInt8](repeating: 1, count: 32))
        var message1 = try initiator.writeMessage1(payload: [9, 9])
        message1[40] ^= 0x01
        let responder = NoiseIKpsk2Responder(prologue: [], localStatic: r)
        #expect(throws: CryptoError.self) { try responder.readMessage1(message1) }
    }
}

/// Review finding 10: handshake secrets (chaining key, cipher key, ephemeral keys) are
/// wiped as soon as the transport keys exist, and on failure.
@Suite("Noise: secrets are wiped")
struct NoiseWipingTests {
    @Test func bothSidesWipeTheirHandshakeSecretsWhenDone() throws {
        let initiatorKey = X25519PrivateKey.generate(), responderKey = X25519PrivateKey.generate()
        let psk = SecureRandom.bytes(32)
        let initiator = try NoiseIKpsk2Initiator(prologue: [], localStatic: initiatorKey, remoteStatic: responderKey.publicKey, psk: psk)
        let responder = NoiseIKpsk2Responder(prologue: [], localStatic: responderKey)
        let message1 = try initiator.writeMessage1(payload: [1])
        #expect(initiator.holdsSecrets)
        _ = try responder.readMessage1(message1)
        let (message2, responderKeys) = try responder.writeMessage2(payload: [], psk: psk)
        #expect(!responder.holdsSecrets)
        let (_, initiatorKeys) = try initiator.readMessage2(message2)
        #expect(!initiator.holdsSecrets)
        #expect(initiatorKeys.sendKey == responderKeys.receiveKey, "the keys themselves survive")
    }

    @Test func aFailedHandshakeWipesToo() throws {
        let responderKey = X25519PrivateKey.generate()
        let initiator = try NoiseIKpsk2Initiator(prologue: [], localStatic: .generate(), remoteStatic: responderKey.publicKey, psk: SecureRandom.bytes(32))
        _ = try initiator.writeMessage1(payload: [])
        #expect(throws: (any Error).self) { try initiator.readMessage2(X25519PrivateKey.generate().publicKey + [UInt8](repeating: 0, count: 16)) }
        #expect(!initiator.holdsSecrets)
    }

    @Test func anX25519KeyCanBeWiped() {
        var key = X25519PrivateKey.generate()
        #expect(!key.isWiped)
        key.wipe()
        #expect(key.isWiped)
    }
}
