import ClipWire

extension ControlConnection: PairingReplyTarget {}

/// The daemon as the owner of its peer connections: the few members a connection uses.
extension Daemon: PeerConnectionOwner {
    func pairedPeer(staticKey: [UInt8]) -> StoredPeer? { peers.peer(staticKey: staticKey) }

    func guestChannelStep() -> GuestChannelStep { guestLink.nextStep(self) }

    func admitUnauthenticated(_ connection: PeerConnection, from address: String) {
        unauthenticated.admit(connection, from: address)
    }

    func forgetUnauthenticated(_ connection: PeerConnection) { unauthenticated.remove(connection) }

    func strangerDropped(_ reason: String, from address: String) { strangers.record(reason, from: address) }
}
