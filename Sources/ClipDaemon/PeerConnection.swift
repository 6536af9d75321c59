import ClipCrypto
import ClipSync
import ClipWire
import Logging
import NIOCore

/// What a peer connection needs of the daemon beyond its handshake: admission of
/// connections not yet authenticated, the sessions table, the engine and the log. A
/// connection reaches the daemon through this and `HandshakeAuthority`, nothing else.
///
/// Called on the daemon's event loop only.
protocol PeerConnectionOwner: HandshakeAuthority, SessionHost {
    var logger: Logger { get }
    /// Bounds connections that have not authenticated (see `UnauthenticatedConnections`).
    func admitUnauthenticated(_ connection: PeerConnection, from address: String)
    /// The connection authenticated or closed.
    func forgetUnauthenticated(_ connection: PeerConnection)
    /// A stranger's connection was dropped: summed up in the log, never one line each.
    func strangerDropped(_ reason: String, from address: String)
    /// A responder's session proved the PSK: its message-1 timestamp is now the newest.
    func recordHandshakeTimestamp(_ timestamp: UInt64, from peer: DeviceID)
    /// Registers an authenticated session with the engine; nil when it is refused.
    func sessionEstablished(_ connection: PeerConnection) -> SessionID?
    func sessionEnded(_ id: SessionID, connection: PeerConnection, reason: String?)
    /// Whether the engine waits on the peer (a fetch or an offer unanswered).
    func sessionAwaitsPeer(_ id: SessionID) -> Bool
}

/// One connection to another daemon, over TCP or a VM channel: the NIO side of a
/// `PeerHandshake` (pairing or the Noise handshake in plaintext frames), then encrypted
/// records carrying session messages (a `RecordStream`).
///
/// Runs entirely on the daemon's event loop (the daemon uses a one-thread group), like every
/// other piece of daemon state. Any protocol or authentication failure closes the
/// connection; nothing half-received reaches the engine.
final class PeerConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    typealias Role = PeerHandshake.Role

    /// Handshakes must finish within this time or the connection is dropped.
    static let handshakeTimeout = TimeAmount.seconds(10)
    /// Largest record plaintext: a 256 KiB data chunk, an inline offer or a manifest, plus headers.
    static let maximumRecordPlaintext = 272 * 1024

    private unowned let owner: PeerConnectionOwner
    private let handshake: PeerHandshake
    private var records: RecordStream?
    private var context: ChannelHandlerContext?
    private var timeout: Scheduled<Void>?
    private var finished = false
    private var registered = false
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

    init(owner: PeerConnectionOwner, role: Role, remote: String) {
        self.owner = owner
        self.remoteDescription = remote
        handshake = PeerHandshake(role: role, authority: owner, remote: remote)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The channel is gone: the context (which holds this handler) is let go, or the two
    /// would keep each other, and what they hold, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if case .responder = handshake.role {
            // Bounded before anything is read: a stranger can hold only so many of these.
            sourceAddress = context.channel.remoteAddress?.ipAddress ?? remoteDescription
            owner.admitUnauthenticated(self, from: sourceAddress)
        }
        perform(handshake.connected())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        var buffer = unwrapInboundIn(data)
        if records != nil {
            liveness?.heard()
            ingest(&buffer)
            liveness?.settle()
            return
        }
        guard handshake.isHandshaking else { return }
        perform(handshake.received(buffer.readableBytesView, writable: context.channel.isWritable))
    }

    func channelInactive(context: ChannelHandlerContext) { close(reason: nil) }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail("connection error: \(error)")
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard context.channel.isWritable else { return }
        if handshake.isHandshaking { perform(handshake.becameWritable()) }
        sendDeferredOffers()
        streamReady()
    }

    // MARK: The handshake's outputs

    private func perform(_ outputs: [PeerHandshake.Output]) {
        for output in outputs {
            switch output {
            case .write(let frame):
                guard let context else { continue }
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: frame.encoded())), promise: nil)
            case .armTimer:
                armTimeout()
            case .cancelTimer:
                timeout?.cancel()
                timeout = nil
            case .established(let established):
                establish(established)
            case .warn(let text, let peer):
                owner.logger.warning("\(text)", metadata: ["peer": "\(peer)"])
            case .closeAfterWrites:
                timeout?.cancel()
                context?.channel.close(promise: nil)
            case .close(let reason):
                close(reason: reason)
            }
        }
    }

    /// Starts the handshake timer: a started handshake (or pairing) must finish in time.
    private func armTimeout() {
        guard timeout == nil, let context else { return }
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: Self.handshakeTimeout) {
            this.value.perform(this.value.handshake.timedOut())
        }
    }

    /// Switches to records. The initiator has just authenticated the responder and
    /// registers the session at once; a responder registers it, and stops its handshake
    /// timer, only when the first record authenticates.
    private func establish(_ established: PeerHandshake.Established) {
        do {
            records = try RecordStream(keys: established.keys, maximumPlaintext: Self.maximumRecordPlaintext)
        } catch {
            fail("handshake failed: \(error)")
            return
        }
        peer = established.peer
        initiatorDevice = established.initiatorDevice
        handshakeTimestamp = established.timestamp
        if established.authenticated { register() }
        guard !established.leftover.isEmpty, let context else { return }
        var leftover = context.channel.allocator.buffer(bytes: established.leftover)
        ingest(&leftover)
    }

    private func register() {
        timeout?.cancel()
        timeout = nil
        registered = true
        owner.forgetUnauthenticated(self)
        scheduleKeyUpdates()
        if let context {
            // Weak: a timer that outlives the connection finds nothing waiting, and stops.
            liveness = SessionLiveness(
                loop: context.eventLoop,
                awaitsPeer: { [weak self] in
                    guard let self, let sessionID else { return false }
                    return owner.sessionAwaitsPeer(sessionID)
                },
                ping: { [weak self] token in self?.write(.ping(token: token), flush: true) },
                giveUp: { [weak self] reason in self?.close(reason: reason) })
        }
        if let handshakeTimestamp, let peer { owner.recordHandshakeTimestamp(handshakeTimestamp, from: peer.deviceID) }
        sessionID = owner.sessionEstablished(self)
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
        guard let records, let context else { return }
        do { try records.updateKeyIfUsed(to: ChannelRecordSink(context: context)) } catch { fail("cannot seal a key update: \(error)") }
    }

    /// Takes newly received bytes in record mode. The first record that authenticates
    /// registers a responder's session.
    private func ingest(_ incoming: inout ByteBuffer) {
        guard let records else { return }
        do {
            try records.ingest(&incoming) { message in
                if !registered { register() }
                guard let sessionID else { return false }
                switch message {
                case .ping(let token): write(.pong(token: token), flush: true)  // answered here, at once
                case .pong: break  // hearing it was the point
                default: owner.received(message, on: sessionID)
                }
                guard self.records != nil else { return false }
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
        guard records != nil, let context else { return }
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
        guard let records, let context else { return }
        switch message {
        case .fetch, .offer: liveness?.workSent()  // their answers are waited for
        default: break
        }
        do {
            if try !records.send(message, to: ChannelRecordSink(context: context), flush: flush) { fail("session reached its record limit; reconnecting for fresh keys") }
        } catch {
            fail("cannot seal a record: \(error)")
        }
    }

    /// The engine has item bytes for this session: send them while the socket takes more.
    func streamReady() {
        guard let records, let context, let sessionID else { return }
        do {
            if try !records.pump(session: sessionID, host: owner, to: ChannelRecordSink(context: context)) { fail("session reached its record limit; reconnecting for fresh keys") }
        } catch {
            fail("cannot seal a record: \(error)")
        }
    }

    // MARK: Closing

    /// Ends the connection after a failure, logging `reason`; a pairing client waiting on
    /// it hears `notify` (or the reason).
    func fail(_ reason: String, notify: String? = nil) {
        perform(handshake.fail(reason, notify: notify))
    }

    func close(reason: String?) {
        guard !finished else { return }
        finished = true
        let wasPairing = handshake.isPairing
        handshake.closed(reason: reason)
        if let reason {
            if case .responder = handshake.role, !registered, !wasPairing {
                owner.strangerDropped(reason, from: sourceAddress)
            } else {
                owner.logger.info("closing connection", metadata: ["remote": "\(remoteDescription)", "peer": "\(peer?.name ?? "-")", "reason": "\(reason)"])
            }
        }
        records = nil
        timeout?.cancel()
        timeout = nil
        keyUpdates?.cancel()
        keyUpdates = nil
        liveness?.stop()
        liveness = nil
        owner.forgetUnauthenticated(self)
        let session = sessionID
        sessionID = nil
        context?.channel.close(promise: nil)
        if let session { owner.sessionEnded(session, connection: self, reason: reason) }
    }
}
