/// Noise protocol framework pieces for `Noise_IKpsk2_25519_AESGCM_SHA256`, written to the
/// Noise specification (revision 34): CipherState, SymmetricState and the two handshake
/// roles of the IKpsk2 pattern.
///
///     IKpsk2:
///       <- s
///       ...
///       -> e, es, s, ss
///       <- e, ee, se, psk
///
/// Instances are not thread-safe; each handshake has one owner.
public enum Noise {
    /// The full protocol name, hashed into the initial state.
    public static let protocolName = "Noise_IKpsk2_25519_AESGCM_SHA256"
    static let hashLength = 32
    static let dhLength = 32
    static let tagLength = 16
}

/// Noise's CipherState: a key (possibly empty) and a 64-bit nonce.
struct NoiseCipherState {
    private(set) var key: [UInt8]?
    private(set) var nonce: UInt64 = 0

    mutating func initializeKey(_ key: [UInt8]?) {
        wipe()
        self.key = key
        nonce = 0
    }

    /// Overwrites the key with zeros and forgets it.
    mutating func wipe() {
        if var old = key {
            key = nil
            secureWipe(&old)
        }
    }

    var hasKey: Bool { key != nil }

    mutating func encrypt(ad: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
        guard let key else { return plaintext }
        guard nonce < UInt64.max else { throw CryptoError.nonceExhausted }
        let cipher = try AESGCM256(key: key, direction: .seal)
        let out = try cipher.seal(nonce: AESGCM256.counterNonce(nonce), aad: ad, plaintext: plaintext)
        nonce += 1
        return out
    }

    mutating func decrypt(ad: [UInt8], ciphertext: [UInt8]) throws -> [UInt8] {
        guard let key else { return ciphertext }
        guard nonce < UInt64.max else { throw CryptoError.nonceExhausted }
        let cipher = try AESGCM256(key: key, direction: .open)
        let out = try cipher.open(nonce: AESGCM256.counterNonce(nonce), aad: ad, ciphertextAndTag: ciphertext)
        nonce += 1
        return out
    }
}

/// Noise's SymmetricState: chaining key, handshake hash and a CipherState.
struct NoiseSymmetricState {
    private(set) var chainingKey: [UInt8]
    private(set) var handshakeHash: [UInt8]
    private var cipher = NoiseCipherState()

    init(protocolName: String) {
        let name = Array(protocolName.utf8)
        if name.count <= Noise.hashLength {
            handshakeHash = name + [UInt8](repeating: 0, count: Noise.hashLength - name.count)
        } else {
            handshakeHash = SHA256.hash(name)
        }
        chainingKey = handshakeHash
    }

    mutating func mixHash(_ data: [UInt8]) {
        handshakeHash = SHA256.hash(handshakeHash + data)
    }

    mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        var output = HKDFSHA256.derive(ikm: inputKeyMaterial, salt: chainingKey, info: [], length: 64)
        defer { secureWipe(&output) }
        replaceChainingKey(Array(output[0..<32]))
        cipher.initializeKey(Array(output[32..<64]))
    }

    /// Mixes a Diffie-Hellman output in and wipes it.
    mutating func mixSecret(_ secret: [UInt8]) {
        var secret = secret
        mixKey(secret)
        secureWipe(&secret)
    }

    mutating func mixKeyAndHash(_ inputKeyMaterial: [UInt8]) {
        var output = HKDFSHA256.derive(ikm: inputKeyMaterial, salt: chainingKey, info: [], length: 96)
        defer { secureWipe(&output) }
        replaceChainingKey(Array(output[0..<32]))
        mixHash(Array(output[32..<64]))
        cipher.initializeKey(Array(output[64..<96]))
    }

    private mutating func replaceChainingKey(_ next: [UInt8]) {
        var old = chainingKey
        chainingKey = next
        secureWipe(&old)
    }

    /// Overwrites the chaining key and the cipher key with zeros (after `split`).
    mutating func wipe() {
        secureWipe(&chainingKey)
        cipher.wipe()
    }

    /// Whether any secret is still held.
    var holdsSecrets: Bool { cipher.hasKey || chainingKey.contains { $0 != 0 } }

    mutating func encryptAndHash(_ plaintext: [UInt8]) throws -> [UInt8] {
        let ciphertext = try cipher.encrypt(ad: handshakeHash, plaintext: plaintext)
        mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let plaintext = try cipher.decrypt(ad: handshakeHash, ciphertext: ciphertext)
        mixHash(ciphertext)
        return plaintext
    }

    /// The two transport keys: (initiator-to-responder, responder-to-initiator). The
    /// state's own secrets are wiped: nothing more is derived from it.
    mutating func split() -> ([UInt8], [UInt8]) {
        var output = HKDFSHA256.derive(ikm: [], salt: chainingKey, info: [], length: 64)
        defer { secureWipe(&output) }
        wipe()
        return (Array(output[0..<32]), Array(output[32..<64]))
    }
}

/// The result of a completed handshake: one key per direction and the handshake hash,
/// which both sides share and which names the session.
public struct NoiseTransportKeys: Sendable {
    /// Key for records this side sends.
    public let sendKey: [UInt8]
    /// Key for records this side receives.
    public let receiveKey: [UInt8]
    /// The final handshake hash h.
    public let handshakeHash: [UInt8]
}

/// The initiator of an IKpsk2 handshake: it knows the responder's static key and the PSK.
public final class NoiseIKpsk2Initiator {
    private var state: NoiseSymmetricState
    private let localStatic: X25519PrivateKey
    private var ephemeral: X25519PrivateKey
    private let remoteStatic: [UInt8]
    private let psk: [UInt8]
    private var sentFirst = false

    deinit {
        state.wipe()
        ephemeral.wipe()
    }

    /// Whether handshake secrets (chaining key, cipher key, ephemeral key) are still held:
    /// false once message 2 was read, or after a failure.
    var holdsSecrets: Bool { state.holdsSecrets || !ephemeral.isWiped }

    /// - Parameters:
    ///   - prologue: bytes both sides must agree on (protocol version and transport).
    ///   - testingEphemeral: fixes the ephemeral key for test vectors only.
    public init(prologue: [UInt8], localStatic: X25519PrivateKey, remoteStatic: [UInt8], psk: [UInt8], testingEphemeral: X25519PrivateKey? = nil) throws {
        guard remoteStatic.count == Noise.dhLength else { throw CryptoError.invalidInput("responder static key must be 32 bytes") }
        guard psk.count == 32 else { throw CryptoError.invalidInput("PSK must be 32 bytes") }
        state = NoiseSymmetricState(protocolName: Noise.protocolName)
        state.mixHash(prologue)
        state.mixHash(remoteStatic)
        self.localStatic = localStatic
        self.remoteStatic = remoteStatic
        self.psk = psk
        self.ephemeral = testingEphemeral ?? X25519PrivateKey.generate()
    }

    /// Writes message 1 (`e, es, s, ss` and the encrypted payload).
    public func writeMessage1(payload: [UInt8]) throws -> [UInt8] {
        precondition(!sentFirst, "IKpsk2 message 1 written twice")
        sentFirst = true
        var out = ephemeral.publicKey
        state.mixHash(ephemeral.publicKey)
        state.mixKey(ephemeral.publicKey)  // psk modifier: e also mixes the key
        state.mixSecret(try ephemeral.sharedSecret(with: remoteStatic))
        out += try state.encryptAndHash(localStatic.publicKey)
        state.mixSecret(try localStatic.sharedSecret(with: remoteStatic))
        out += try state.encryptAndHash(payload)
        return out
    }

    /// Reads message 2 (`e, ee, se, psk` and the payload). Returns the responder's payload
    /// and the transport keys only when everything authenticated.
    public func readMessage2(_ message: [UInt8]) throws -> (payload: [UInt8], keys: NoiseTransportKeys) {
        guard sentFirst else { throw CryptoError.invalidInput("IKpsk2 message 2 before message 1") }
        guard message.count >= Noise.dhLength + Noise.tagLength else { throw CryptoError.invalidInput("IKpsk2 message 2 too short") }
        let remoteEphemeral = Array(message[0..<Noise.dhLength])
        // Whatever the outcome, this handshake is over: its secrets go.
        defer {
            state.wipe()
            ephemeral.wipe()
        }
        state.mixHash(remoteEphemeral)
        state.mixKey(remoteEphemeral)
        state.mixSecret(try ephemeral.sharedSecret(with: remoteEphemeral))
        state.mixSecret(try localStatic.sharedSecret(with: remoteEphemeral))
        state.mixKeyAndHash(psk)
        let payload = try state.decryptAndHash(Array(message[Noise.dhLength...]))
        let (initiatorToResponder, responderToInitiator) = state.split()
        return (payload, NoiseTransportKeys(sendKey: initiatorToResponder, receiveKey: responderToInitiator, handshakeHash: state.handshakeHash))
    }
}

/// The responder of an IKpsk2 handshake. It reads message 1 without knowing who is
/// calling, learns the initiator's static key from it, and needs that peer's PSK only to
/// write message 2.
public final class NoiseIKpsk2Responder {
    private var state: NoiseSymmetricState
    private let localStatic: X25519PrivateKey
    private var ephemeral: X25519PrivateKey
    private var remoteEphemeral: [UInt8]?
    private var remoteStatic: [UInt8]?

    deinit {
        state.wipe()
        ephemeral.wipe()
    }

    /// Whether handshake secrets are still held: false once message 2 was written.
    var holdsSecrets: Bool { state.holdsSecrets || !ephemeral.isWiped }

    public init(prologue: [UInt8], localStatic: X25519PrivateKey, testingEphemeral: X25519PrivateKey? = nil) {
        state = NoiseSymmetricState(protocolName: Noise.protocolName)
        state.mixHash(prologue)
        state.mixHash(localStatic.publicKey)
        self.localStatic = localStatic
        self.ephemeral = testingEphemeral ?? X25519PrivateKey.generate()
    }

    /// Reads message 1. Returns the initiator's static key and payload once both decrypted
    /// (the payload is authenticated by the initiator's static key, not yet by the PSK).
    public func readMessage1(_ message: [UInt8]) throws -> (initiatorStatic: [UInt8], payload: [UInt8]) {
        let minimum = Noise.dhLength + Noise.dhLength + Noise.tagLength + Noise.tagLength
        guard message.count >= minimum else { throw CryptoError.invalidInput("IKpsk2 message 1 too short") }
        let re = Array(message[0..<32])
        state.mixHash(re)
        state.mixKey(re)
        state.mixSecret(try localStatic.sharedSecret(with: re))
        let rs = try state.decryptAndHash(Array(message[32..<80]))
        state.mixSecret(try localStatic.sharedSecret(with: rs))
        let payload = try state.decryptAndHash(Array(message[80...]))
        remoteEphemeral = re
        remoteStatic = rs
        return (rs, payload)
    }

    /// Writes message 2 with the PSK shared with the initiator found in message 1.
    public func writeMessage2(payload: [UInt8], psk: [UInt8]) throws -> (message: [UInt8], keys: NoiseTransportKeys) {
        guard let re = remoteEphemeral, let rs = remoteStatic else { throw CryptoError.invalidInput("IKpsk2 message 2 before message 1") }
        guard psk.count == 32 else { throw CryptoError.invalidInput("PSK must be 32 bytes") }
        defer {
            state.wipe()
            ephemeral.wipe()
        }
        var out = ephemeral.publicKey
        state.mixHash(ephemeral.publicKey)
        state.mixKey(ephemeral.publicKey)
        state.mixSecret(try ephemeral.sharedSecret(with: re))
        state.mixSecret(try ephemeral.sharedSecret(with: rs))
        state.mixKeyAndHash(psk)
        out += try state.encryptAndHash(payload)
        let (initiatorToResponder, responderToInitiator) = state.split()
        return (out, NoiseTransportKeys(sendKey: responderToInitiator, receiveKey: initiatorToResponder, handshakeHash: state.handshakeHash))
    }
}
