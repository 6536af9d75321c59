import ClipCrypto

/// Who a device is, as exchanged during pairing.
public struct DeviceIdentity: Sendable, Equatable {
    public let deviceID: DeviceID
    public let staticPublicKey: [UInt8]
    /// The display name, with control and format characters replaced (`printableName`).
    public let name: String

    public init(staticPublicKey: [UInt8], name: String) {
        self.deviceID = DeviceID.derive(fromStaticKey: staticPublicKey)
        self.staticPublicKey = staticPublicKey
        self.name = Self.printableName(name)
    }

    /// A name another device chose, safe to print (`Printable.text`).
    public static func printableName(_ name: String) -> String { Printable.text(name) }
}

extension DeviceID {
    /// A device's id is a hash of its long-term public key, so an id can never be claimed
    /// by another key.
    public static func derive(fromStaticKey key: [UInt8]) -> DeviceID {
        DeviceID(bytes: Array(SHA256.hash(Array("clipd device id v1".utf8) + key).prefix(byteCount)))
    }
}

/// What a successful pairing leaves behind: everything needed to authenticate the peer
/// later, and nothing else (no code, scalars or session keys).
public struct PairedPeer: Sendable, Equatable {
    public let identity: DeviceIdentity
    /// 256-bit pre-shared key derived from both sides' random shares.
    public let psk: [UInt8]
}

/// Why pairing ended without a pair. Both sides show the same text for a wrong code.
public enum PairingError: Error, Equatable, CustomStringConvertible {
    case codeMismatch
    case windowClosed
    /// Another connection used the code first (it works once).
    case codeTaken
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .codeMismatch: return "pairing failed: the code did not match"
        case .windowClosed: return "pairing failed: no pairing window is open on the other device (run `clipd pair` there first)"
        case .codeTaken: return "pairing failed: another connection used this code first, so it is spoiled; run `clipd pair` on the other device again and use the new code"
        case .protocolViolation(let what): return "pairing failed: \(what)"
        }
    }
}

/// Reason bytes of a PAIR_FAIL frame.
public enum PairFailReason: UInt8, Sendable {
    case codeMismatch = 1
    case noWindow = 2
    case malformed = 3
    case notStored = 4
    /// The window's code is being used by another connection.
    case codeTaken = 5

    public var error: PairingError {
        switch self {
        case .codeMismatch: return .codeMismatch
        case .noWindow: return .windowClosed
        case .malformed: return .protocolViolation("the other device rejected a malformed message")
        case .notStored: return .protocolViolation("the other device could not save the pairing")
        case .codeTaken: return .codeTaken
        }
    }
}

/// Constants and key schedule shared by both pairing roles (protocol/pairing.md).
enum PairingProtocol {
    static let context = Array("clipd pair v1".utf8)
    static let identityAAD = Array("clipd pair identity v1".utf8)

    static func passwordScalar(_ code: PairingCode) throws -> [UInt8] {
        try SPAKE2.passwordScalar(code: code.secret, context: context)
    }

    static func sealKey(_ keys: SPAKE2.Keys, sender: String) -> [UInt8] {
        HKDFSHA256.derive(ikm: keys.sharedKey, salt: SHA256.hash(keys.transcript), info: Array("clipd pair seal \(sender)".utf8), length: 32)
    }

    static func psk(initiatorShare: [UInt8], responderShare: [UInt8], keys: SPAKE2.Keys) -> [UInt8] {
        HKDFSHA256.derive(ikm: initiatorShare + responderShare, salt: SHA256.hash(keys.transcript), info: Array("clipd psk v1".utf8), length: 32)
    }

    /// Identity payload: static key (32) || PSK share (32) || name (u8 length + UTF-8) ||
    /// `tail` (the joiner's ephemeral key and proof, or the listener's proof).
    static func sealIdentity(_ identity: DeviceIdentity, share: [UInt8], tail: [UInt8], key: [UInt8]) throws -> [UInt8] {
        var w = ByteWriter()
        w.raw(identity.staticPublicKey)
        w.raw(share)
        w.shortString(identity.name)
        w.raw(tail)
        var plain = w.bytes
        defer { secureWipe(&plain) }
        return try AESGCM256(key: key, direction: .seal).seal(nonce: [UInt8](repeating: 0, count: 12), aad: identityAAD, plaintext: plain)
    }

    /// Opens a sealed identity whose tail is `tailLength` bytes; returns the identity, its
    /// PSK share and the tail.
    static func openIdentity(_ sealed: ArraySlice<UInt8>, key: [UInt8], expectedID: DeviceID, tailLength: Int) throws -> (DeviceIdentity, [UInt8], [UInt8]) {
        var plain: [UInt8]
        do {
            plain = try AESGCM256(key: key, direction: .open).open(nonce: [UInt8](repeating: 0, count: 12), aad: identityAAD, ciphertextAndTag: Array(sealed))
        } catch {
            throw PairingError.protocolViolation("the peer's identity did not authenticate")
        }
        defer { secureWipe(&plain) }
        var r = ByteReader(plain, context: "pairing identity")
        let key = try r.raw(32)
        let share = try r.raw(32)
        let name = try r.shortString()
        let tail = try r.raw(tailLength)
        try r.expectEnd()
        let identity = DeviceIdentity(staticPublicKey: key, name: name)
        guard identity.deviceID == expectedID else { throw PairingError.protocolViolation("the peer's key does not match its device id") }
        return (identity, share, tail)
    }

    /// Proof that `sender` holds the private half of its static key: an HMAC under the
    /// X25519 of that static key with the other side's ephemeral key, over the transcript.
    static func proof(_ dh: [UInt8], sender: String, keys: SPAKE2.Keys) -> [UInt8] {
        HMACSHA256.mac(key: dh, data: Array("clipd pair proof \(sender)".utf8) + SHA256.hash(keys.transcript))
    }

    /// PAIR_DONE's body: the joiner verified the listener and stored it.
    static func doneMAC(_ keys: SPAKE2.Keys) -> [UInt8] {
        let key = HKDFSHA256.derive(ikm: keys.sharedKey, salt: SHA256.hash(keys.transcript), info: Array("clipd pair done".utf8), length: 32)
        return HMACSHA256.mac(key: key, data: Array("done".utf8))
    }

    /// Checks the proof `received` from the side whose static key is `peerStatic`, with our
    /// ephemeral `ephemeral`.
    static func verifyProof(_ received: [UInt8], peerStatic: [UInt8], ephemeral: X25519PrivateKey, sender: String, keys: SPAKE2.Keys) throws {
        let dh: [UInt8]
        do { dh = try ephemeral.sharedSecret(with: peerStatic) } catch { throw PairingError.protocolViolation("the peer's key is invalid") }
        guard ConstantTime.equal(received, proof(dh, sender: sender, keys: keys)) else {
            throw PairingError.protocolViolation("the peer does not hold the key it claims")
        }
    }

    static func fail(_ reason: PairFailReason) -> HandshakeFrame { HandshakeFrame(kind: .pairFail, body: [reason.rawValue]) }
}

/// The side that types the code (`clipd pair CODE TARGET`): SPAKE2 role A.
///
/// Drive it with `start()` then `handle(_:)` for each frame received, sending every frame it
/// returns. The pair it returns is stored only once the listener closes the connection
/// after PAIR_DONE (it stored its side first), so a failed pairing stores nothing on either
/// side. Secrets are wiped when it is done. Not thread-safe: one owner.
public final class PairingInitiator {
    private let local: DeviceIdentity
    private let key: X25519PrivateKey
    private let spake: SPAKE2
    private var share = SecureRandom.bytes(32)
    private let ephemeral = X25519PrivateKey.generate()
    private var keys: SPAKE2.Keys?
    private var peerID: DeviceID?

    /// - Parameter key: the private half of `local`'s static key (proved to the listener).
    public init(code: PairingCode, local: DeviceIdentity, key: X25519PrivateKey) throws {

        self.local = local
        self.key = key
        self.spake = try SPAKE2(role: .a, w: PairingProtocol.passwordScalar(code))
    }

    deinit {
        secureWipe(&share)
        keys?.wipe()
    }

    /// The first frame: PAIR_START with this device's id and the SPAKE2 message.
    public func start() -> HandshakeFrame {
        HandshakeFrame(kind: .pairStart, body: local.deviceID.bytes + spake.message)
    }

    /// Handles a frame from the responder. Returns the frame to send (if any) and, after
    /// PAIR_FINISH verified, the paired peer (with PAIR_DONE to send). Throws `PairingError`
    /// on any failure; on a code mismatch the caller sends `codeMismatchFrame` before
    /// closing.
    public func handle(_ frame: HandshakeFrame) throws -> (send: HandshakeFrame?, paired: PairedPeer?) {
        switch frame.kind {
        case .pairReply:
            guard keys == nil else { throw PairingError.protocolViolation("unexpected second reply") }
            var r = ByteReader(frame.body, context: "pair reply")
            let id = DeviceID(bytes: try r.raw(DeviceID.byteCount))
            let pB = try r.raw(SPAKE2.messageByteCount)
            let cB = try r.raw(32)
            let listenerEphemeral = try r.raw(32)
            try r.expectEnd()
            let finished: SPAKE2.Keys
            do {
                finished = try spake.finish(
                    peerMessage: pB, identityA: local.deviceID.bytes, identityB: id.bytes, additionalData: PairingProtocol.context)
            } catch {
                throw PairingError.protocolViolation("the peer's SPAKE2 message is invalid")
            }
            guard finished.verifyPeerConfirmation(cB) else { throw PairingError.codeMismatch }
            keys = finished
            peerID = id
            let dh: [UInt8]
            do { dh = try key.sharedSecret(with: listenerEphemeral) } catch { throw PairingError.protocolViolation("the peer's ephemeral key is invalid") }
            let tail = ephemeral.publicKey + PairingProtocol.proof(dh, sender: "A", keys: finished)
            let sealed = try PairingProtocol.sealIdentity(local, share: share, tail: tail, key: PairingProtocol.sealKey(finished, sender: "A"))
            return (HandshakeFrame(kind: .pairConfirm, body: finished.confirmation + sealed), nil)
        case .pairFinish:
            guard let keys, let peerID else { throw PairingError.protocolViolation("finish before reply") }
            let (identity, openedShare, proof) = try PairingProtocol.openIdentity(frame.body[...], key: PairingProtocol.sealKey(keys, sender: "B"),
                                                                                 expectedID: peerID, tailLength: 32)
            var peerShare = openedShare
            defer { secureWipe(&peerShare) }
            try PairingProtocol.verifyProof(proof, peerStatic: identity.staticPublicKey, ephemeral: ephemeral, sender: "B", keys: keys)
            let psk = PairingProtocol.psk(initiatorShare: share, responderShare: peerShare, keys: keys)
            return (HandshakeFrame(kind: .pairDone, body: PairingProtocol.doneMAC(keys)), PairedPeer(identity: identity, psk: psk))
        case .pairFail:
            throw (frame.body.first.flatMap(PairFailReason.init(rawValue:)) ?? .malformed).error
        default:
            throw PairingError.protocolViolation("unexpected \(frame.kind) frame")
        }
    }

    /// The frame to send the responder when this side detected a wrong code.
    public static let codeMismatchFrame = PairingProtocol.fail(.codeMismatch)
}

/// The side that opened a pairing window (`clipd pair`): SPAKE2 role B. It exists only
/// after the caller has burned the code for the first well-formed PAIR_START. The pair it
/// makes is stored only once PAIR_DONE shows the joiner verified this side. Not
/// thread-safe: one owner.
public final class PairingResponder {
    private let local: DeviceIdentity
    private let key: X25519PrivateKey
    private var share = SecureRandom.bytes(32)
    private let ephemeral = X25519PrivateKey.generate()
    private var keys: SPAKE2.Keys
    private let peerID: DeviceID

    /// Parses a PAIR_START body without any cryptography, so the caller can burn the code
    /// before calling `init(code:local:key:peer:peerMessage:)`.
    public static func parseStart(_ frame: HandshakeFrame) throws -> (DeviceID, [UInt8]) {
        guard frame.kind == .pairStart else { throw PairingError.protocolViolation("expected a pairing start") }
        var r = ByteReader(frame.body, context: "pair start")
        let id = DeviceID(bytes: try r.raw(DeviceID.byteCount))
        let pA = try r.raw(SPAKE2.messageByteCount)
        try r.expectEnd()
        return (id, pA)
    }

    /// Runs B's side of SPAKE2 on a parsed start. `reply` is the PAIR_REPLY to send.
    /// - Parameter key: the private half of `local`'s static key (proved to the joiner).
    public init(code: PairingCode, local: DeviceIdentity, key: X25519PrivateKey, peer: DeviceID, peerMessage: [UInt8]) throws {

        self.local = local
        self.key = key
        self.peerID = peer
        let spake = try SPAKE2(role: .b, w: PairingProtocol.passwordScalar(code))
        do {
            keys = try spake.finish(
                peerMessage: peerMessage, identityA: peer.bytes, identityB: local.deviceID.bytes, additionalData: PairingProtocol.context)
        } catch {
            throw PairingError.protocolViolation("the peer's SPAKE2 message is invalid")
        }
        reply = HandshakeFrame(kind: .pairReply, body: local.deviceID.bytes + spake.message + keys.confirmation + ephemeral.publicKey)
    }

    deinit {
        secureWipe(&share)
        keys.wipe()
    }

    /// The PAIR_REPLY frame to send.
    public let reply: HandshakeFrame

    /// Handles PAIR_CONFIRM. Returns PAIR_FINISH to send and the pair to store once
    /// `handleDone` accepts PAIR_DONE, or throws `PairingError.codeMismatch` (send
    /// `codeMismatchFrame`, then close) or another `PairingError`.
    public func handleConfirm(_ frame: HandshakeFrame) throws -> (send: HandshakeFrame, paired: PairedPeer) {
        if frame.kind == .pairFail {
            throw (frame.body.first.flatMap(PairFailReason.init(rawValue:)) ?? .malformed).error
        }
        guard frame.kind == .pairConfirm, frame.body.count > 32 else { throw PairingError.protocolViolation("expected a pairing confirmation") }
        let cA = Array(frame.body.prefix(32))
        guard keys.verifyPeerConfirmation(cA) else { throw PairingError.codeMismatch }
        let (identity, openedShare, tail) = try PairingProtocol.openIdentity(frame.body.dropFirst(32), key: PairingProtocol.sealKey(keys, sender: "A"),
                                                                            expectedID: peerID, tailLength: 64)
        var peerShare = openedShare
        defer { secureWipe(&peerShare) }
        let joinerEphemeral = Array(tail.prefix(32))
        try PairingProtocol.verifyProof(Array(tail.suffix(32)), peerStatic: identity.staticPublicKey, ephemeral: ephemeral, sender: "A", keys: keys)
        let dh: [UInt8]
        do { dh = try key.sharedSecret(with: joinerEphemeral) } catch { throw PairingError.protocolViolation("the peer's ephemeral key is invalid") }
        let sealed = try PairingProtocol.sealIdentity(local, share: share, tail: PairingProtocol.proof(dh, sender: "B", keys: keys),
                                                      key: PairingProtocol.sealKey(keys, sender: "B"))
        let psk = PairingProtocol.psk(initiatorShare: peerShare, responderShare: share, keys: keys)
        return (HandshakeFrame(kind: .pairFinish, body: sealed), PairedPeer(identity: identity, psk: psk))
    }

    /// Handles the frame after PAIR_FINISH: PAIR_DONE with the right MAC means the joiner
    /// verified this side; anything else is a `PairingError`.
    public func handleDone(_ frame: HandshakeFrame) throws {
        if frame.kind == .pairFail {
            throw (frame.body.first.flatMap(PairFailReason.init(rawValue:)) ?? .malformed).error
        }
        guard frame.kind == .pairDone, ConstantTime.equal(frame.body, PairingProtocol.doneMAC(keys)) else {
            throw PairingError.protocolViolation("the other device did not confirm the pairing")
        }
    }

    /// The frame to send the initiator when this side detected a wrong code.
    public static let codeMismatchFrame = PairingProtocol.fail(.codeMismatch)
    /// The frame to send when no pairing window is open.
    public static let noWindowFrame = PairingProtocol.fail(.noWindow)
    /// The frame to send when the window's code was taken by another connection.
    public static let codeTakenFrame = PairingProtocol.fail(.codeTaken)
    /// The frame to send when the pair could not be saved: the joiner stores nothing.
    public static let notStoredFrame = PairingProtocol.fail(.notStored)
}
