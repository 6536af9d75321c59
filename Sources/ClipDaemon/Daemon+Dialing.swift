import ClipWire
import NIOCore
import NIOPosix

/// Dialing paired peers that have addresses, with exponential back-off while they are
/// unreachable. A dialer exists only while its peer has no session; at rest (every peer
/// connected) there is no timer at all.
final class DialState {
    static let firstDelay = TimeAmount.milliseconds(250)
    static let maximumDelay = TimeAmount.seconds(30)

    var delay = DialState.firstDelay
    var retry: Scheduled<Void>?
    var dialing = false
    var rejections = 0

    func connected() {
        delay = Self.firstDelay
        rejections = 0
        retry?.cancel()
        retry = nil
    }
}

extension Daemon {
    /// Starts dialing a peer unless it has a session, a dial under way or no address.
    func ensureDialer(_ id: DeviceID) {
        assertOnLoop()
        // Only network addresses are dialled; a host reached over the VM channel
        // ("virtio") is attached by the channel's link instead.
        guard let peer = peers.peer(id: id), peer.addresses.contains(where: { $0 != Self.virtioTarget }) else { return }
        if connections.values.contains(where: { $0.peer?.deviceID == id }) { return }
        let state = dialers[id] ?? DialState()
        dialers[id] = state
        guard !state.dialing, state.retry == nil else { return }
        dial(peer, state: state)
    }

    private func dial(_ peer: StoredPeer, state: DialState) {
        state.dialing = true
        let address = peer.addresses.first { $0 != Self.virtioTarget }!
        guard let target = try? HostPort(parsing: address) else {
            logger.error("peer has an invalid address", metadata: ["peer": "\(peer.name)", "address": "\(address)"])
            return
        }
        ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
            .channelOption(.recvAllocator, value: Self.receiveAllocator)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    Self.configureKeepalive(channel)
                    try channel.pipeline.syncOperations.addConnection(PeerConnection(owner: self, role: .initiator(peer), remote: target.description))
                }
            }
            .connect(host: target.host, port: target.port)
            .whenComplete { [self] result in
                if case .failure(let error) = result {
                    logger.debug("cannot reach peer", metadata: ["peer": "\(peer.name)", "address": "\(target)", "error": "\(error)"])
                    dialEnded(peer.deviceID)
                }
            }
    }

    /// A dial attempt (or the session it led to) ended: retry later if the peer still has
    /// no session.
    func dialEnded(_ id: DeviceID) {
        assertOnLoop()
        guard let state = dialers[id] else { return }
        state.dialing = false
        if connections.values.contains(where: { $0.peer?.deviceID == id }) { return }
        guard peers.peer(id: id) != nil else {
            dialers[id] = nil
            return
        }
        let delay = state.delay
        state.delay = min(state.delay * 2, DialState.maximumDelay)
        state.retry?.cancel()
        let boundState = NIOLoopBound(state, eventLoop: loop)
        state.retry = loop.scheduleTask(in: delay) { [self] in
            boundState.value.retry = nil
            ensureDialer(id)
        }
    }

    /// The peer refused our handshake (wrong or stale PSK): back off, and after a few
    /// refusals tell the user what to do.
    func handshakeRejected(by peer: StoredPeer) {
        guard let state = dialers[peer.deviceID] else { return }
        state.rejections += 1
        if state.rejections == 3 {
            logger.error("peer keeps rejecting this device's handshake: the pairing is stale; run `clipd pair` on \(peer.name) and `clipd pair CODE ADDRESS` here", metadata: ["peer": "\(peer.name)"])
        }
    }
}
