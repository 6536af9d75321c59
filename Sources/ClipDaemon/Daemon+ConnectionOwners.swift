import ClipSync
import ClipWire

extension ControlConnection: PairingReplyTarget {}

/// The daemon as the owner of its peer connections: the few members a connection uses.
extension Daemon: PeerConnectionOwner {
    func pairedPeer(staticKey: [UInt8]) -> StoredPeer? { peers.peer(staticKey: staticKey) }

    func guestChannelStep() -> GuestChannelStep { pairing.guestLink.nextStep(peers: peers, logger: logger) }

    func admitUnauthenticated(_ connection: PeerConnection, from address: String) {
        unauthenticated.admit(connection, from: address)
    }

    func forgetUnauthenticated(_ connection: PeerConnection) { unauthenticated.remove(connection) }

    func strangerDropped(_ reason: String, from address: String) { strangers.record(reason, from: address) }
}

/// The daemon as the owner of its guests' SPICE agent connections.
extension Daemon: AgentConnectionOwner {
    var hostDevice: DeviceID { identity.deviceID }
    var agentLimits: (selections: Set<Selection>, maximumItemSize: UInt64) { (configuration.selections, configuration.maximumItemSize) }
}

/// The daemon as the host of its links.
extension Daemon: LinkServiceHost {
    /// Whether a session with the peer is open.
    func hasSession(with id: DeviceID) -> Bool { connections.values.contains { $0.peer?.deviceID == id } }

    func handshakeRejected(by peer: StoredPeer) { links.handshakeRejected(by: peer) }
}

/// The daemon answers its control clients.
extension Daemon: ControlRequestHandler {}
