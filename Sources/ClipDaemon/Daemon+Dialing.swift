import ClipWire
import NIOCore

/// Dialing paired peers that have network addresses (`PeerDialer`): one link per such
/// peer, which tries while the peer has no session and backs off while it is unreachable.
extension Daemon {
    /// Dials a peer now unless it has a session, a dial under way or waiting, or no
    /// network address.
    func ensureDialer(_ id: DeviceID) {
        assertOnLoop()
        // Only network addresses are dialled; a host reached over this guest's VM channel
        // is attached by the channel's link instead.
        guard !stopped, peers.peer(id: id)?.dialAddress != nil else { return }
        let dialer = links.dialer(id) ?? addDialer(for: id)
        dialer.connection.connect()
    }

    private func addDialer(for id: DeviceID) -> PeerDialer {
        let connection = ReconnectingLink(
            loop: loop, backoff: PeerDialer.backoff,
            open: { [unowned self] in try dial(id) },
            wanted: { [unowned self] in peers.peer(id: id) != nil && !hasSession(with: id) },
            failed: { [unowned self] reason, _ in
                logger.debug("cannot reach peer", metadata: ["peer": "\(peers.peer(id: id)?.name ?? "\(id.short)")", "error": "\(reason)"])
            })
        let dialer = PeerDialer(peer: id, connection: connection)
        links.add(dialer)
        return dialer
    }

    private func dial(_ id: DeviceID) throws -> EventLoopFuture<Channel> {
        guard let peer = peers.peer(id: id), let address = peer.dialAddress else { throw DaemonError("no network address") }
        let target: HostPort
        do {
            target = try HostPort(parsing: address)
        } catch {
            logger.error("peer has an invalid address", metadata: ["peer": "\(peer.name)", "address": "\(address)"])
            throw error
        }
        return TCPTransport.dial(target, group: group) { [self] _ in PeerConnection(owner: self, role: .initiator(peer), remote: target.description) }
    }

    /// Whether a session with the peer is open.
    func hasSession(with id: DeviceID) -> Bool { connections.values.contains { $0.peer?.deviceID == id } }

    /// The peer refused our handshake (wrong or stale PSK): after a few refusals tell the
    /// user what to do.
    func handshakeRejected(by peer: StoredPeer) {
        guard let dialer = links.dialer(peer.deviceID) else { return }
        dialer.rejections += 1
        if dialer.rejections == 3 {
            logger.error("peer keeps rejecting this device's handshake: the pairing is stale; run `clipd pair` on \(peer.name) and `clipd pair CODE ADDRESS` here", metadata: ["peer": "\(peer.name)"])
        }
    }
}
