import ClipCrypto
import ClipWire

/// The start of one connection to another daemon, as a state machine with no I/O: the
/// Noise IKpsk2 handshake, both pairing roles and the VM channel's hellos
/// (protocol/protocol.md, protocol/channel.md). It takes bytes and events and returns what
/// to do: frames to write, the handshake timer, the keys of an established session, or
/// closing. `PeerConnection` carries those out on a NIO channel.
///
/// Guarantees: nothing is established unless the other end proved its key (the initiator
/// authenticated the responder through message 2; the responder learns the initiator's
/// key from message 1, and its session is registered only once a record authenticates);
/// a pairing code is burned before any cryptography; an unknown key or a malformed first
/// message is closed without a word. Not thread-safe: one owner, on the daemon's loop.
final class PeerHandshake {
    enum Role {
        /// We dial a paired peer and run Noise as initiator.
        case initiator(StoredPeer)
        /// We accepted the connection: the first frame decides (Noise or pairing).
        case responder
        /// We dial to pair with a code typed by the user.
        case pairingInitiator(PairingInitiator, target: PeerAddress, reply: PairingReplyTarget)
        /// Host end of a VM channel: says hello with this attach id, then answers like a
        /// responder.
        case channelHost(attachID: [UInt8])
        /// Guest end of a VM channel: waits for the host's hello, then starts what the
        /// authority says (pairing, the Noise handshake, or nothing while unpaired).
        case channelGuest

        var isChannel: Bool {
            switch self {
            case .channelHost, .channelGuest: true
            default: false
            }
        }
    }

    /// A finished handshake: the session's keys and who it is with.
    struct Established {
        let keys: NoiseTransportKeys
        let peer: StoredPeer
        /// The device that dialled: both ends compute the same value (for duplicate sessions).
        let initiatorDevice: DeviceID
        /// True when the other end already proved its keys (we initiated: message 2
        /// authenticated the responder). A responder registers the session only when the
        /// first record authenticates; until then a replayed message 1 cannot displace a
        /// live session.
        let authenticated: Bool
        /// A responder's message-1 timestamp, to record once the first record proves the PSK.
        let timestamp: UInt64?
        /// Bytes that came after the last handshake frame: the first records.
        let leftover: [UInt8]
    }

    enum Output {
        case write(HandshakeFrame)
        /// Start the handshake timer if it is not running: a started handshake must finish
        /// in time.
        case armTimer
        case cancelTimer
        case established(Established)
        /// Log a warning about `peer`.
        case warn(String, peer: String)
        /// Close once what was written has gone.
        case closeAfterWrites
        /// Close now; a reason is logged (nil: quietly).
        case close(reason: String?)
    }

    private enum State {
        case awaitingHello
        case awaitingFirstFrame
        case noiseInitiator(NoiseIKpsk2Initiator, StoredPeer)
        case pairingResponder(PairingResponder)
        /// PAIR_FINISH sent: the pair is stored when PAIR_DONE comes.
        case pairingResponderFinished(PairingResponder, PairedPeer)
        case pairingInitiator(PairingInitiator, target: PeerAddress, reply: PairingReplyTarget)
        /// PAIR_DONE sent: the pair is stored when the listener closes, having stored its side.
        case pairingJoined(PairedPeer, target: PeerAddress, reply: PairingReplyTarget)
        case established
        case closed
    }

    /// The prologue binding a handshake to the protocol version and transport.
    static let tcpPrologue = Array("clipd/1 tcp".utf8)
    static let channelPrologue = Array("clipd/1 virtio".utf8)

    let role: Role
    private unowned let authority: HandshakeAuthority
    /// Who is at the other end, for pairing messages.
    private let remote: String
    private var state: State = .awaitingFirstFrame
    private var frames: HandshakeFrameDecoder
    /// The host's attach id the guest last started from.
    private var attachID: [UInt8]?
    /// The host owes the guest a hello (it asked): written once per read, and only while
    /// the channel takes writes, so a guest that asks and never reads cannot queue answers.
    private var helloOwed = false

    init(role: Role, authority: HandshakeAuthority, remote: String) {
        self.role = role
        self.authority = authority
        self.remote = remote
        frames = HandshakeFrameDecoder(resynchronising: role.isChannel)
    }

    private var prologue: [UInt8] { role.isChannel ? Self.channelPrologue : Self.tcpPrologue }

    /// Whether handshake frames are still expected (false once established or closed).
    var isHandshaking: Bool {
        switch state {
        case .established, .closed: false
        default: true
        }
    }

    /// Whether a pairing is under way (its failures are not a stranger's).
    var isPairing: Bool {
        switch state {
        case .pairingResponder, .pairingResponderFinished, .pairingInitiator, .pairingJoined: true
        default: false
        }
    }

    // MARK: Events

    /// The connection is up.
    func connected() -> [Output] {
        switch role {
        case .initiator(let peer):
            return [.armTimer] + startNoise(with: peer)
        case .pairingInitiator(let pairing, let target, let reply):
            state = .pairingInitiator(pairing, target: target, reply: reply)
            return [.armTimer, .write(pairing.start())]
        case .responder:
            return [.armTimer]
        case .channelHost(let attachID):
            // No timer while waiting: a guest may take minutes to boot, or never run clipd.
            return [.write(HandshakeFrame(kind: .channelHello, body: attachID))]
        case .channelGuest:
            state = .awaitingHello
            return [.write(HandshakeFrame(kind: .channelHelloRequest, body: []))]
        }
    }

    /// Bytes arrived; `writable` says whether the connection takes writes now.
    func received<C: Collection>(_ bytes: C, writable: Bool) -> [Output] where C.Element == UInt8 {
        frames.append(bytes)
        var outputs: [Output] = []
        do {
            while isHandshaking, let frame = try frames.next() { try handle(frame, into: &outputs) }
        } catch {
            outputs += fail("handshake failed: \(error)")
        }
        return outputs + owedHello(writable: writable)
    }

    /// The connection takes writes again.
    func becameWritable() -> [Output] { owedHello(writable: true) }

    /// The handshake timer fired.
    func timedOut() -> [Output] { fail("handshake timed out", notify: "timed out waiting for the other device") }

    /// Ends the handshake after a failure: a pairing client waiting on it hears `notify`
    /// (or the reason). The connection is then closed with `reason`.
    func fail(_ reason: String, notify: String? = nil) -> [Output] {
        if case .pairingInitiator(_, _, let reply) = state {
            reply.finish(.failure("pairing failed: \(notify ?? reason)"))
            state = .closed  // told once: closing has nothing more to say to it
        }
        return [.close(reason: reason)]
    }

    /// The connection closed (`reason` nil: cleanly). Settles a pairing under way: a joiner
    /// whose listener closed cleanly after PAIR_DONE stores the pair; every other pairing
    /// ends as failed or abandoned.
    func closed(reason: String?) {
        switch state {
        case .pairingInitiator(_, let target, let reply):
            reply.finish(.failure("pairing failed: the connection to \(target) closed"))
        case .pairingJoined(let paired, let target, let reply):
            // The listener closes cleanly once it stored its side; anything else (a reset,
            // the time limit) leaves it unknown, and nothing is stored here.
            if let reason {
                reply.finish(.failure("pairing failed: \(target) did not confirm it saved the pairing (\(reason)); nothing was stored here, run both commands again"))
            } else {
                authority.joinSucceeded(paired, target: target, reply: reply)
            }
        case .pairingResponder:
            authority.pairingAbandoned(by: remote)
        case .pairingResponderFinished:
            authority.pairingFailed(.protocolViolation("the other device did not confirm the pairing; nothing was stored"))
        default:
            break
        }
        state = .closed
    }

    // MARK: Frames

    private func owedHello(writable: Bool) -> [Output] {
        guard helloOwed, writable, case .channelHost(let attachID) = role, case .awaitingFirstFrame = state else { return [] }
        helloOwed = false
        return [.write(HandshakeFrame(kind: .channelHello, body: attachID))]
    }

    private func startNoise(with peer: StoredPeer) -> [Output] {
        do {
            let noise = try NoiseIKpsk2Initiator(prologue: prologue, localStatic: authority.identity.key,
                                                 remoteStatic: peer.identity.staticPublicKey, psk: peer.psk)
            var payload = ByteWriter()
            payload.u64(authority.handshakeTimestamp())
            let message1 = try noise.writeMessage1(payload: payload.bytes)
            state = .noiseInitiator(noise, peer)
            return [.write(HandshakeFrame(kind: .noiseInit, body: message1))]
        } catch {
            return fail("cannot start handshake: \(error)")
        }
    }

    private func closeAfterWrites(_ outputs: inout [Output]) {
        state = .closed
        outputs.append(.closeAfterWrites)
    }

    private func handle(_ frame: HandshakeFrame, into outputs: inout [Output]) throws {
        if frame.kind == .channelHello || frame.kind == .channelHelloRequest {
            channelFrame(frame, into: &outputs)
            return
        }
        switch state {
        case .awaitingHello:
            break  // a guest ignores what comes before the host's hello: stale bytes
        case .awaitingFirstFrame:
            outputs.append(.armTimer)
            switch frame.kind {
            case .noiseInit: try respondToNoise(frame, into: &outputs)
            case .pairStart: try respondToPairing(frame, into: &outputs)
            default: throw WireError.malformed("unexpected \(frame.kind) as first frame")
            }
        case .noiseInitiator(let noise, let peer):
            guard frame.kind == .noiseResponse else { throw WireError.malformed("expected a handshake response") }
            do {
                let (_, keys) = try noise.readMessage2(frame.body)
                establish(keys: keys, peer: peer, initiator: authority.identity.deviceID, authenticated: true, timestamp: nil, into: &outputs)
            } catch let error as CryptoError {
                authority.handshakeRejected(by: peer)
                throw error
            }
        case .pairingResponder(let responder):
            do {
                let (finish, paired) = try responder.handleConfirm(frame)
                outputs.append(.write(finish))
                state = .pairingResponderFinished(responder, paired)
            } catch let error as PairingError {
                if error == .codeMismatch { outputs.append(.write(PairingResponder.codeMismatchFrame)) }
                authority.pairingFailed(error)
                closeAfterWrites(&outputs)
            }
        case .pairingResponderFinished(let responder, let paired):
            do {
                try responder.handleDone(frame)
                if !authority.pairingSucceeded(paired) { outputs.append(.write(PairingResponder.notStoredFrame)) }
            } catch let error as PairingError {
                authority.pairingFailed(error)
            }
            closeAfterWrites(&outputs)
        case .pairingInitiator(let pairing, let target, let reply):
            do {
                let (send, paired) = try pairing.handle(frame)
                if let send { outputs.append(.write(send)) }
                if let paired { state = .pairingJoined(paired, target: target, reply: reply) }
            } catch let error as PairingError {
                if error == .codeMismatch { outputs.append(.write(PairingInitiator.codeMismatchFrame)) }
                reply.finish(.failure(error.description))
                closeAfterWrites(&outputs)
            }
        case .pairingJoined(_, _, let reply):
            // Only a refusal can follow PAIR_DONE: the listener could not save the pair.
            let error = frame.kind == .pairFail ? (frame.body.first.flatMap(PairFailReason.init(rawValue:)) ?? .malformed).error
                                                : PairingError.protocolViolation("unexpected \(frame.kind) after the pairing finished")
            reply.finish(.failure(error.description))
            closeAfterWrites(&outputs)
        case .established, .closed:
            break
        }
    }

    /// The VM channel's own frames. The host answers a guest that opened its port with its
    /// hello again, while nothing has started. The guest starts over at every new attach id
    /// (a repeated one is the same attach, already under way).
    private func channelFrame(_ frame: HandshakeFrame, into outputs: inout [Output]) {
        switch (role, frame.kind) {
        case (.channelHost, .channelHelloRequest):
            if case .awaitingFirstFrame = state { helloOwed = true }
        case (.channelGuest, .channelHello):
            if case .awaitingHello = state {} else if frame.body == attachID { return }
            if case .pairingInitiator = state {
                outputs += fail("the host's end of the channel restarted during pairing", notify: "the host's end of the channel restarted; run both commands again")
                return
            }
            attachID = frame.body
            outputs.append(.cancelTimer)
            switch authority.guestChannelStep() {
            case .pair(let pairing, let reply):
                state = .pairingInitiator(pairing, target: .hostChannel, reply: reply)
                outputs += [.armTimer, .write(pairing.start())]
            case .handshake(let peer):
                outputs.append(.armTimer)
                outputs += startNoise(with: peer)
            case .wait:
                state = .awaitingHello
            }
        default:
            break
        }
    }

    private func respondToNoise(_ frame: HandshakeFrame, into outputs: inout [Output]) throws {
        let responder = NoiseIKpsk2Responder(prologue: prologue, localStatic: authority.identity.key)
        guard let (remoteStatic, payload) = try? responder.readMessage1(frame.body),
              let peer = authority.pairedPeer(staticKey: remoteStatic)
        else {
            // Unknown key or garbage: drop without a word (nothing to learn for a scanner).
            state = .closed
            outputs.append(.close(reason: "a handshake from an unknown key"))
            return
        }
        var reader = ByteReader(payload, context: "handshake payload")
        guard let timestamp = try? reader.u64() else {
            state = .closed
            outputs.append(.close(reason: nil))
            return
        }
        if let problem = authority.handshakeTimestampProblem(timestamp, from: peer.deviceID) {
            state = .closed
            outputs += [.warn("dropped \(problem)", peer: peer.name), .close(reason: nil)]
            return
        }
        let (message2, keys) = try responder.writeMessage2(payload: [], psk: peer.psk)
        outputs.append(.write(HandshakeFrame(kind: .noiseResponse, body: message2)))
        establish(keys: keys, peer: peer, initiator: peer.deviceID, authenticated: false, timestamp: timestamp, into: &outputs)
    }

    private func respondToPairing(_ frame: HandshakeFrame, into outputs: inout [Output]) throws {
        let (peerID, message) = try PairingResponder.parseStart(frame)
        // The code is burned here, before any cryptography, whatever happens next.
        switch authority.takePairingCode(from: remote) {
        case .none:
            outputs.append(.write(PairingResponder.noWindowFrame))
            closeAfterWrites(&outputs)
        case .taken:
            outputs.append(.write(PairingResponder.codeTakenFrame))
            closeAfterWrites(&outputs)
        case .code(let code):
            do {
                let responder = try PairingResponder(code: code, local: authority.identity.deviceIdentity, key: authority.identity.key, peer: peerID, peerMessage: message)
                state = .pairingResponder(responder)
                outputs.append(.write(responder.reply))
            } catch let error as PairingError {
                authority.pairingFailed(error)
                closeAfterWrites(&outputs)
            }
        }
    }

    private func establish(keys: NoiseTransportKeys, peer: StoredPeer, initiator: DeviceID, authenticated: Bool, timestamp: UInt64?, into outputs: inout [Output]) {
        state = .established
        outputs.append(.established(Established(keys: keys, peer: peer, initiatorDevice: initiator, authenticated: authenticated,
                                                timestamp: timestamp, leftover: frames.takeRemainingBytes())))
    }
}
