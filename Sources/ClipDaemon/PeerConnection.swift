import ClipCrypto
import ClipSync
import ClipWire
import Logging
import NIOCore

/// One connection to another daemon, over TCP or a VM channel: first pairing or the Noise
/// handshake in plaintext frames, then encrypted records carrying session messages (a
/// `RecordStream`). On a VM channel the host says hello at every attach and the guest
/// starts from each new hello (protocol/channel.md).
///
/// Runs entirely on the daemon's event loop (the daemon uses a one-thread group), like every
/// other piece of daemon state. Any protocol or authentication failure closes the
/// connection; nothing half-received reaches the engine.
final class PeerConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Handshakes must finish within this time or the connection is dropped.
    static let handshakeTimeout = TimeAmount.seconds(10)
    /// Largest record plaintext: a 256 KiB data chunk, an inline offer or a manifest, plus headers.
    static let maximumRecordPlaintext = 272 * 1024
    /// Prologue binding the handshake to the protocol version and transport.
    static let tcpPrologue = Array("clipd/1 tcp".utf8)
    static let channelPrologue = Array("clipd/1 virtio".utf8)

    enum Role {
        /// We dial a paired peer and run Noise as initiator.
        case initiator(StoredPeer)
        /// We accepted the connection: the first frame decides (Noise or pairing).
        case responder
        /// We dial to pair with a code typed by the user.
        case pairingInitiator(PairingInitiator, target: String, reply: ControlConnection)
        /// Host end of a VM channel: says hello with this attach id, then answers like a
        /// responder.
        case channelHost(attachID: [UInt8])
        /// Guest end of a VM channel: waits for the host's hello, then starts what the link
        /// says (pairing, the Noise handshake, or nothing while unpaired).
        case channelGuest(VirtioGuestLink)
    }

    private enum State {
        case awaitingHello
        case awaitingFirstFrame
        case noiseInitiator(NoiseIKpsk2Initiator, StoredPeer)
        case pairingResponder(PairingResponder)
        /// PAIR_FINISH sent: the pair is stored when PAIR_DONE comes.
        case pairingResponderFinished(PairingResponder, PairedPeer)
        case pairingInitiator(PairingInitiator, target: String, reply: ControlConnection)
        /// PAIR_DONE sent: the pair is stored when the listener closes, having stored its side.
        case pairingJoined(PairedPeer, target: String, reply: ControlConnection)
        case session(RecordStream)
        case closed
    }

    private unowned let daemon: Daemon
    private let role: Role
    private var state: State = .awaitingFirstFrame
    private var frames: HandshakeFrameDecoder
    /// The host's attach id the guest last started from.
    private var attachID: [UInt8]?
    private var context: ChannelHandlerContext?
    private var timeout: Scheduled<Void>?
    private var finished = false
    private var registered = false
    /// The host owes the guest a hello (it asked): written once per read, and only while
    /// the channel takes writes, so a guest that asks and never reads cannot queue answers.
    private var helloOwed = false
    /// A responder's message-1 timestamp, recorded once the first record proves the PSK.
    private var handshakeTimestamp: UInt64?
    /// Offers made while the peer was not reading (the channel took no writes): only the
    /// newest per selection is kept, and sent once the channel drains. A peer that stops
    /// reading costs at most one offer per selection, however many copies are made.
    private var deferredOffers: [Selection: SessionMessage] = [:]
    private(set) var sessionID: SessionID?
    private(set) var peer: StoredPeer?
    /// Whether the peer still answers while work waits on it (made with the session).
    private(set) var liveness: SessionLiveness?
    /// The device that dialled: both ends compute the same value (for duplicate sessions).
    private(set) var initiatorDevice: DeviceID?
    let remoteDescription: String
    /// The address an accepted connection came from, without its port.
    private var sourceAddress = "?"

    init(daemon: Daemon, role: Role, remote: String) {
        self.daemon = daemon
        self.role = role
        self.remoteDescription = remote
        frames = HandshakeFrameDecoder(resynchronising: Self.isChannel(role))
    }

    private static func isChannel(_ role: Role) -> Bool {
        switch role {
        case .channelHost, .channelGuest: true
        default: false
        }
    }

    private var prologue: [UInt8] { Self.isChannel(role) ? Self.channelPrologue : Self.tcpPrologue }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The channel is gone: the context (which holds this handler) is let go, or the two
    /// would keep each other, and what they hold, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        switch role {
        case .initiator(let peer):
            armTimeout()
            startNoise(with: peer)
        case .pairingInitiator(let pairing, let target, let reply):
            armTimeout()
            state = .pairingInitiator(pairing, target: target, reply: reply)
            writeFrame(pairing.start())
        case .responder:
            // Bounded before anything is read: a stranger can hold only so many of these.
            sourceAddress = context.channel.remoteAddress?.ipAddress ?? remoteDescription
            daemon.unauthenticated.admit(self, from: sourceAddress)
            armTimeout()
        case .channelHost(let attachID):
            // No timer while waiting: a guest may take minutes to boot, or never run clipd.
            writeFrame(HandshakeFrame(kind: .channelHello, body: attachID))
        case .channelGuest:
            state = .awaitingHello
            writeFrame(HandshakeFrame(kind: .channelHelloRequest, body: []))
        }
    }

    /// Starts the handshake timer: a started handshake (or pairing) must finish in time.
    private func armTimeout() {
        guard timeout == nil, let context else { return }
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: Self.handshakeTimeout) {
            this.value.fail("handshake timed out", notify: "timed out waiting for the other device")
        }
    }

    private func startNoise(with peer: StoredPeer) {
        do {
            let noise = try NoiseIKpsk2Initiator(prologue: prologue, localStatic: daemon.identity.key,
                                                 remoteStatic: peer.identity.staticPublicKey, psk: peer.psk)
            var payload = ByteWriter()
            payload.u64(daemon.handshakeTimestamp())
            let message1 = try noise.writeMessage1(payload: payload.bytes)
            state = .noiseInitiator(noise, peer)
            writeFrame(HandshakeFrame(kind: .noiseInit, body: message1))
        } catch {
            fail("cannot start handshake: \(error)")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if case .session = state {
            liveness?.heard()
            ingest(&buffer)
            liveness?.settle()
            return
        }
        frames.append(buffer.readableBytesView)
        do {
            while isHandshaking, let frame = try frames.next() { try handle(frame) }
        } catch {
            fail("handshake failed: \(error)")
        }
        sayOwedHello()
    }

    func channelInactive(context: ChannelHandlerContext) { close(reason: nil) }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail("connection error: \(error)")
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard context.channel.isWritable else { return }
        sayOwedHello()
        sendDeferredOffers()
        streamReady()
    }

    private func sayOwedHello() {
        guard helloOwed, case .channelHost(let attachID) = role, case .awaitingFirstFrame = state,
              let context, context.channel.isWritable else { return }
        helloOwed = false
        writeFrame(HandshakeFrame(kind: .channelHello, body: attachID))
    }

    // MARK: Handshake frames

    private func handle(_ frame: HandshakeFrame) throws {
        if frame.kind == .channelHello || frame.kind == .channelHelloRequest {
            channelFrame(frame)
            return
        }
        switch state {
        case .awaitingHello:
            break  // a guest ignores what comes before the host's hello: stale bytes
        case .awaitingFirstFrame:
            armTimeout()
            switch frame.kind {
            case .noiseInit: try respondToNoise(frame)
            case .pairStart: try respondToPairing(frame)
            default: throw WireError.malformed("unexpected \(frame.kind) as first frame")
            }
        case .noiseInitiator(let noise, let peer):
            guard frame.kind == .noiseResponse else { throw WireError.malformed("expected a handshake response") }
            do {
                let (_, keys) = try noise.readMessage2(frame.body)
                try establish(keys: keys, peer: peer, initiator: daemon.identity.deviceID)
            } catch let error as CryptoError {
                daemon.handshakeRejected(by: peer)
                throw error
            }
        case .pairingResponder(let responder):
            do {
                let (finish, paired) = try responder.handleConfirm(frame)
                writeFrame(finish)
                state = .pairingResponderFinished(responder, paired)
            } catch let error as PairingError {
                if error == .codeMismatch { writeFrame(PairingResponder.codeMismatchFrame) }
                daemon.pairingFailed(error)
                closeAfterFlush()
            }
        case .pairingResponderFinished(let responder, let paired):
            do {
                try responder.handleDone(frame)
                if !daemon.pairingSucceeded(paired) { writeFrame(PairingResponder.notStoredFrame) }
            } catch let error as PairingError {
                daemon.pairingFailed(error)
            }
            closeAfterFlush()
        case .pairingInitiator(let pairing, let target, let reply):
            do {
                let (send, paired) = try pairing.handle(frame)
                if let send { writeFrame(send) }
                if let paired { state = .pairingJoined(paired, target: target, reply: reply) }
            } catch let error as PairingError {
                if error == .codeMismatch { writeFrame(PairingInitiator.codeMismatchFrame) }
                reply.finish(.failure(error.description))
                closeAfterFlush()
            }
        case .pairingJoined(_, _, let reply):
            // Only a refusal can follow PAIR_DONE: the listener could not save the pair.
            let error = frame.kind == .pairFail ? (frame.body.first.flatMap(PairFailReason.init(rawValue:)) ?? .malformed).error
                                                : PairingError.protocolViolation("unexpected \(frame.kind) after the pairing finished")
            reply.finish(.failure(error.description))
            closeAfterFlush()
        case .session, .closed:
            break
        }
    }

    /// The VM channel's own frames. The host answers a guest that opened its port with its
    /// hello again, while nothing has started. The guest starts over at every new attach id
    /// (a repeated one is the same attach, already under way).
    private func channelFrame(_ frame: HandshakeFrame) {
        switch (role, frame.kind) {
        case (.channelHost, .channelHelloRequest):
            if case .awaitingFirstFrame = state { helloOwed = true }
        case (.channelGuest(let link), .channelHello):
            if case .awaitingHello = state {} else if frame.body == attachID { return }
            if case .pairingInitiator = state {
                fail("the host's end of the channel restarted during pairing", notify: "the host's end of the channel restarted; run both commands again")
                return
            }
            attachID = frame.body
            timeout?.cancel()
            timeout = nil
            switch link.nextStep(daemon) {
            case .pair(let pairing, let reply):
                armTimeout()
                state = .pairingInitiator(pairing, target: "virtio", reply: reply)
                writeFrame(pairing.start())
            case .handshake(let peer):
                armTimeout()
                startNoise(with: peer)
            case .wait:
                state = .awaitingHello
            }
        default:
            break
        }
    }

    private func respondToNoise(_ frame: HandshakeFrame) throws {
        let responder = NoiseIKpsk2Responder(prologue: prologue, localStatic: daemon.identity.key)
        guard let (remoteStatic, payload) = try? responder.readMessage1(frame.body),
              let peer = daemon.peers.peer(staticKey: remoteStatic)
        else {
            // Unknown key or garbage: drop without a word (nothing to learn for a scanner), and
            // only counted in the log's summary of strangers.
            close(reason: "a handshake from an unknown key")
            return
        }
        var reader = ByteReader(payload, context: "handshake payload")
        guard let timestamp = try? reader.u64() else {
            close(reason: nil)
            return
        }
        if let problem = daemon.handshakeTimestampProblem(timestamp, from: peer.deviceID) {
            daemon.logger.warning("dropped \(problem)", metadata: ["peer": "\(peer.name)"])
            close(reason: nil)
            return
        }
        handshakeTimestamp = timestamp
        let (message2, keys) = try responder.writeMessage2(payload: [], psk: peer.psk)
        writeFrame(HandshakeFrame(kind: .noiseResponse, body: message2))
        try establish(keys: keys, peer: peer, initiator: peer.deviceID)
    }

    private func respondToPairing(_ frame: HandshakeFrame) throws {
        let (peerID, message) = try PairingResponder.parseStart(frame)
        // The code is burned here, before any cryptography, whatever happens next.
        switch daemon.takePairingCode(from: remoteDescription) {
        case .none:
            writeFrame(PairingResponder.noWindowFrame)
            closeAfterFlush()
        case .taken:
            writeFrame(PairingResponder.codeTakenFrame)
            closeAfterFlush()
        case .code(let code):
            try startPairing(code, peerID: peerID, message: message)
        }
    }

    private func startPairing(_ code: PairingCode, peerID: DeviceID, message: [UInt8]) throws {
        do {
            let responder = try PairingResponder(code: code, local: daemon.identity.deviceIdentity, key: daemon.identity.key, peer: peerID, peerMessage: message)
            state = .pairingResponder(responder)
            writeFrame(responder.reply)
        } catch let error as PairingError {
            daemon.pairingFailed(error)
            closeAfterFlush()
        }
    }

    /// Switches to records. The initiator has just authenticated the responder (message 2
    /// decrypted under the PSK) and registers the session at once. The responder has not yet
    /// seen proof that the initiator holds the keys (message 1 could be a replay), so it
    /// registers the session, and stops its handshake timer, only when the first record
    /// authenticates; until then a replayed handshake cannot displace a live session.
    private func establish(keys: NoiseTransportKeys, peer: StoredPeer, initiator: DeviceID) throws {
        state = .session(try RecordStream(keys: keys, maximumPlaintext: Self.maximumRecordPlaintext))
        self.peer = peer
        self.initiatorDevice = initiator
        var leftover = context!.channel.allocator.buffer(bytes: frames.takeRemainingBytes())
        switch role {
        case .initiator, .channelGuest: register()  // we initiated: message 2 authenticated the responder
        default: break
        }
        if leftover.readableBytes > 0 { ingest(&leftover) }
    }

    private func register() {
        timeout?.cancel()
        timeout = nil
        registered = true
        daemon.unauthenticated.remove(self)
        scheduleKeyUpdates()
        if let context {
            // Weak: a timer that outlives the connection finds nothing waiting, and stops.
            liveness = SessionLiveness(
                loop: context.eventLoop,
                awaitsPeer: { [weak self] in
                    guard let self, let sessionID else { return false }
                    return daemon.sessionAwaitsPeer(sessionID)
                },
                ping: { [weak self] token in self?.write(.ping(token: token), flush: true) },
                giveUp: { [weak self] reason in self?.close(reason: reason) })
        }
        if let handshakeTimestamp, let peer { daemon.recordHandshakeTimestamp(handshakeTimestamp, from: peer.deviceID) }
        sessionID = daemon.sessionEstablished(self)
    }

    // MARK: Records

    /// A key update every `keyUpdateInterval` while the session lives.
    private var keyUpdates: RepeatedTask?

    private func scheduleKeyUpdates() {
        guard let context, keyUpdates == nil else { return }
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        keyUpdates = context.eventLoop.scheduleRepeatedTask(initialDelay: RecordStream.keyUpdateInterval, delay: RecordStream.keyUpdateInterval) { _ in
            this.value.updateKey()
        }
    }

    private func updateKey() {
        guard case .session(let records) = state, let context else { return }
        do { try records.updateKeyIfUsed(context: context) } catch { fail("cannot seal a key update: \(error)") }
    }

    /// Takes newly received bytes in record mode. The first record that authenticates
    /// registers a responder's session.
    private func ingest(_ incoming: inout ByteBuffer) {
        guard case .session(let records) = state else { return }
        do {
            try records.ingest(&incoming) { message in
                if !registered { register() }
                guard let sessionID else { return false }
                switch message {
                case .ping(let token): write(.pong(token: token), flush: true)  // answered here, at once
                case .pong: break  // hearing it was the point
                default: daemon.received(message, on: sessionID)
                }
                guard case .session = state else { return false }
                return true
            }
        } catch CryptoError.authenticationFailed {
            fail("record failed authentication")
        } catch let error as WireError {
            fail("malformed session message: \(error)")
        } catch {
            fail("bad record: \(error)")
        }
    }

    /// Seals and writes one message; an offer waits (replacing an older waiting one of its
    /// selection) while the channel takes no writes. Call on the event loop.
    func send(_ message: SessionMessage, flush: Bool = true) {
        guard case .session = state, let context else { return }
        if case .offer(let offer) = message, !context.channel.isWritable || !deferredOffers.isEmpty {
            deferredOffers[offer.header.selection] = message
            if context.channel.isWritable { sendDeferredOffers() }
            return
        }
        write(message, flush: flush)
    }

    private func sendDeferredOffers() {
        for selection in Selection.allCases {
            guard let context, context.channel.isWritable else { return }
            if let offer = deferredOffers.removeValue(forKey: selection) { write(offer, flush: true) }
        }
    }

    private func write(_ message: SessionMessage, flush: Bool) {
        guard case .session(let records) = state, let context else { return }
        switch message {
        case .fetch, .offer: liveness?.workSent()  // their answers are waited for
        default: break
        }
        do {
            if try !records.send(message, context: context, flush: flush) { fail("session reached its record limit; reconnecting for fresh keys") }
        } catch {
            fail("cannot seal a record: \(error)")
        }
    }

    /// The engine has item bytes for this session: send them while the socket takes more.
    func streamReady() {
        guard case .session(let records) = state, let context, let sessionID else { return }
        do {
            if try !records.pump(session: sessionID, host: daemon, context: context) { fail("session reached its record limit; reconnecting for fresh keys") }
        } catch {
            fail("cannot seal a record: \(error)")
        }
    }

    // MARK: Closing

    private func writeFrame(_ frame: HandshakeFrame) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: frame.encoded())), promise: nil)
    }

    private func closeAfterFlush() {
        state = .closed
        timeout?.cancel()
        context?.channel.close(promise: nil)
    }

    /// Ends the connection after a failure, logging `reason`; a pairing client waiting on
    /// it hears `notify` (or the reason).
    func fail(_ reason: String, notify: String? = nil) {
        if case .pairingInitiator(_, _, let reply) = state {
            reply.finish(.failure("pairing failed: \(notify ?? reason)"))
        }
        close(reason: reason)
    }

    private var isPairing: Bool {
        switch state {
        case .pairingResponder, .pairingResponderFinished, .pairingInitiator, .pairingJoined: true
        default: false
        }
    }

    private var isHandshaking: Bool {
        switch state {
        case .session, .closed: return false
        default: return true
        }
    }

    func close(reason: String?) {
        guard !finished else { return }
        finished = true
        switch state {
        case .pairingInitiator(_, let target, let reply):
            reply.finish(.failure("pairing failed: the connection to \(target) closed"))
        case .pairingJoined(let paired, let target, let reply):
            // The listener closes cleanly once it stored its side; anything else (a reset, the
            // time limit) leaves it unknown, and nothing is stored here.
            if reason == nil {
                daemon.joinSucceeded(paired, target: target, reply: reply)
            } else {
                reply.finish(.failure("pairing failed: \(target) did not confirm it saved the pairing (\(reason!)); nothing was stored here, run both commands again"))
            }
        case .pairingResponder:
            // Someone used the window's code and went away (or stalled) before confirming it.
            daemon.pairingAbandoned(by: remoteDescription)
        case .pairingResponderFinished:
            daemon.pairingFailed(.protocolViolation("the other device did not confirm the pairing; nothing was stored"))
        default:
            break
        }
        if let reason {
            if case .responder = role, !registered, !isPairing {
                daemon.strangers.record(reason, from: sourceAddress)  // summed up, never one line each
            } else {
                daemon.logger.info("closing connection", metadata: ["remote": "\(remoteDescription)", "peer": "\(peer?.name ?? "-")", "reason": "\(reason)"])
            }
        }
        state = .closed
        timeout?.cancel()
        timeout = nil
        keyUpdates?.cancel()
        keyUpdates = nil
        liveness?.stop()
        liveness = nil
        daemon.unauthenticated.remove(self)
        let session = sessionID
        sessionID = nil
        context?.channel.close(promise: nil)
        if let session { daemon.sessionEnded(session, connection: self, reason: reason) }
        if case .initiator(let peer) = role { daemon.dialEnded(peer.deviceID) }
    }
}

