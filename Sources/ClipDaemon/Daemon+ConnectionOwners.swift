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
    func agentChannelOpened(_ connection: VDAgentConnection) { links.agentChannelOpened(connection) }
    func agentChannelClosed(_ connection: VDAgentConnection) { links.agentChannelClosed(connection) }
}

/// The daemon as the host of its links.
extension Daemon: LinkServiceHost {
    /// Whether a session with the peer is open.
    func hasSession(with id: DeviceID) -> Bool { connections.values.contains { $0.peer?.deviceID == id } }

    func handshakeRejected(by peer: StoredPeer) { links.handshakeRejected(by: peer) }
}

/// The daemon answers its control clients.
extension Daemon: ControlRequestHandler {}

/// The daemon as the host of its desktop: a copy there is a new local item, which the
/// watchers hear of; an emptied selection is told to the watchers only.
extension Daemon: DesktopHost {
    func desktopCopyTaken(_ item: ClipItem) { control.watchers.notify(item.selection, .item(item.header, held: item)) }

    func desktopCleared(_ selection: Selection) {
        logger.debug("the desktop's \(selection) was cleared")
        control.watchers.notify(selection, .empty(state: "clear"))
    }
}

/// Watch events show items as this machine sees them.
extension Daemon: WatchHost {
    /// Who copied an item, for people: "this device", a peer's or a guest agent's name.
    func originName(of header: ItemHeader) -> String {
        if header.id.origin == identity.deviceID { return "this device" }
        if let peer = peers.peer(id: header.id.origin) { return peer.name }
        if let agent = agentSessions.values.first(where: { $0.bridge.guestDevice == header.id.origin }) { return agent.name }
        return header.id.origin.short
    }
}
