import ClipCrypto

/// Who a device is, as exchanged during pairing.
public struct DeviceIdentity: Sendable, Equatable {
    public let deviceID: DeviceID
    public let staticPublicKey: [UInt8]
    public let name: String

    public init(staticPublicKey: [UInt8], name: String) {
        self.deviceID = DeviceID.derive(fromStaticKey: staticPublicKey)
        self.staticPublicKey = staticPublicKey
        self.name = name
    }
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
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .codeMismatch: return "pairing failed: the code did not match"
        case .windowClosed: return "pairing failed: no pairing window is open on the other device (run `clipd pair` there first)"
        case .protocolViolation(let what): return "pairing failed: \(what)"
        }
    }
}

/// Reason bytes of a PAIR_FAIL frame.
public enum PairFailReason: UInt8, Sendable {
    case codeMismatch = 1
    case noWindow = 2
    case malformed = 3

    var error: PairingError {
        switch self {
        case .codeMismatch: return .codeMismatch
        case .noWindow: return .windowClosed
        case .malformed: return .protocolViolation("the other device rejected a malformed message")
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

    /// Identity payload: static key (32) || PSK share (32) || name (u8 length + UTF-8).
    static func sealIdentity(_ identity: DeviceIdentity, share: [UInt8], key: [UInt8]) throws -> [UInt8] {
        var w = ByteWriter()
        w.raw(identity.staticPublicKey)
        w.raw(share)
        w.shortString(identity.name)
        return try AESGCM256(key: key, direction: .seal).seal(nonce: [UInt8](repeating: 0, count: 12), aad: identityAAD, plaintext: w.bytes)
    }

    static func openIdentity(_ sealed: ArraySlice<UInt8>, key: [UInt8], expectedID: DeviceID) throws -> (DeviceIdentity, [UInt8]) {
        let plain: [UInt8]
        do {
            plain = try AESGCM256(key: key, direction: .open).open(nonce: [UInt8](repeating: 0, count: 12), aad: identityAAD, ciphertextAndTag: Array(sealed))
        } catch {
            throw PairingError.protocolViolation("the peer's identity did not authenticate")
        }
        var r = ByteReader(plain, context: "pairing identity")
        let key = try r.raw(32)
        let share = try r.raw(32)
        let name = try r.shortString()
        try r.expectEnd()
        let identity = DeviceIdentity(staticPublicKey: key, name: name)
        guard identity.deviceID == expectedID else { throw PairingError.protocolViolation("the peer's key does not match its device id") }
        return (identity, share)
    }

    static func fail(_ reason: PairFailReason) -> HandshakeFrame { HandshakeFrame(kind: .pairFail, body: [reason.rawValue]) }
}

/// The side that types the code (`clipd pair CODE TARGET`): SPAKE2 role A.
///
/// Drive it with `start()` then `handle(_:)` for each frame received, sending every frame it
/// returns. Not thread-safe: one owner.
public final class PairingInitiator {
    private let local: DeviceIdentity
    private let spake: SPAKE2
    private let share = SecureRandom.bytes(32)
    private var keys: SPAKE2.Keys?
    private var peerID: DeviceID?

    public init(code: PairingCode, local: DeviceIdentity) throws {
        self.local = local
        self.spake = try SPAKE2(role: .a, w: PairingProtocol.passwordScalar(code))
    }

    /// The first frame: PAIR_START with this device's id and the SPAKE2 message.
    public func start() -> HandshakeFrame {
        HandshakeFrame(kind: .pairStart, body: local.deviceID.bytes + spake.message)
    }

    /// Handles a frame from the responder. Returns the frame to send (if any) and, at the
    /// end, the paired peer. Throws `PairingError` on any failure; on a code mismatch the
    /// caller sends `codeMismatchFrame` before closing.
    public func handle(_ frame: HandshakeFrame) throws -> (send: HandshakeFrame?, paired: PairedPeer?) {
        switch frame.kind {
        case .pairReply:
            guard keys == nil else { throw PairingError.protocolViolation("unexpected second reply") }
            var r = ByteReader(frame.body, context: "pair reply")
            let id = DeviceID(bytes: try r.raw(DeviceID.byteCount))
            let pB = try r.raw(SPAKE2.messageByteCount)
            let cB = try r.raw(32)
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
            let sealed = try PairingProtocol.sealIdentity(local, share: share, key: PairingProtocol.sealKey(finished, sender: "A"))
            return (HandshakeFrame(kind: .pairConfirm, body: finished.confirmation + sealed), nil)
        case .pairFinish:
            guard let keys, let peerID else { throw PairingError.protocolViolation("finish before reply") }
            let (identity, peerShare) = try PairingProtocol.openIdentity(frame.body[...], key: PairingProtocol.sealKey(keys, sender: "B"), expectedID: peerID)
            let psk = PairingProtocol.psk(initiatorShare: share, responderShare: peerShare, keys: keys)
            return (nil, PairedPeer(identity: identity, psk: psk))
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
/// after the caller has burned the code for the first well-formed PAIR_START.
public final class PairingResponder {
    private let local: DeviceIdentity
    private let share = SecureRandom.bytes(32)
    private let keys: SPAKE2.Keys
    private let peerID: DeviceID

    /// Parses a PAIR_START body without any cryptography, so the caller can burn the code
    /// before calling `init(code:local:start:)`.
    public static func parseStart(_ frame: HandshakeFrame) throws -> (DeviceID, [UInt8]) {
        guard frame.kind == .pairStart else { throw PairingError.protocolViolation("expected a pairing start") }
        var r = ByteReader(frame.body, context: "pair start")
        let id = DeviceID(bytes: try r.raw(DeviceID.byteCount))
        let pA = try r.raw(SPAKE2.messageByteCount)
        try r.expectEnd()
        return (id, pA)
    }

    /// Runs B's side of SPAKE2 on a parsed start. Returns the PAIR_REPLY to send.
    public init(code: PairingCode, local: DeviceIdentity, peer: DeviceID, peerMessage: [UInt8]) throws {
        self.local = local
        self.peerID = peer
        let spake = try SPAKE2(role: .b, w: PairingProtocol.passwordScalar(code))
        do {
            keys = try spake.finish(
                peerMessage: peerMessage, identityA: peer.bytes, identityB: local.deviceID.bytes, additionalData: PairingProtocol.context)
        } catch {
            throw PairingError.protocolViolation("the peer's SPAKE2 message is invalid")
        }
        reply = HandshakeFrame(kind: .pairReply, body: local.deviceID.bytes + spake.message + keys.confirmation)
    }

    /// The PAIR_REPLY frame to send.
    public let reply: HandshakeFrame

    /// Handles PAIR_CONFIRM. Returns PAIR_FINISH to send and the paired peer, or throws
    /// `PairingError.codeMismatch` (send `codeMismatchFrame`, then close).
    public func handleConfirm(_ frame: HandshakeFrame) throws -> (send: HandshakeFrame, paired: PairedPeer) {
        if frame.kind == .pairFail {
            throw (frame.body.first.flatMap(PairFailReason.init(rawValue:)) ?? .malformed).error
        }
        guard frame.kind == .pairConfirm, frame.body.count > 32 else { throw PairingError.protocolViolation("expected a pairing confirmation") }
        let cA = Array(frame.body.prefix(32))
        guard keys.verifyPeerConfirmation(cA) else { throw PairingError.codeMismatch }
        let (identity, peerShare) = try PairingProtocol.openIdentity(frame.body.dropFirst(32), key: PairingProtocol.sealKey(keys, sender: "A"), expectedID: peerID)
        let sealed = try PairingProtocol.sealIdentity(local, share: share, key: PairingProtocol.sealKey(keys, sender: "B"))
        let psk = PairingProtocol.psk(initiatorShare: peerShare, responderShare: share, keys: keys)
        return (HandshakeFrame(kind: .pairFinish, body: sealed), PairedPeer(identity: identity, psk: psk))
    }

    /// The frame to send the initiator when this side detected a wrong code.
    public static let codeMismatchFrame = PairingProtocol.fail(.codeMismatch)
    /// The frame to send when no pairing window is open.
    public static let noWindowFrame = PairingProtocol.fail(.noWindow)
}
