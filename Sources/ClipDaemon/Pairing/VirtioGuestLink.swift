import ClipWire
import Logging

/// The guest end's wishes, consulted at each new hello from the host.
final class VirtioGuestLink {
    /// A `clipd pair CODE virtio` waiting for the next hello.
    var pendingJoin: (PairingInitiator, ControlConnection)?
    var toldUnpaired = false

    /// What to start on a new attach: a pending pairing first, else the session with the
    /// paired host, else nothing (and say once how to pair).
    func nextStep(peers: PeerStore, logger: Logger) -> GuestChannelStep {
        if let (pairing, reply) = pendingJoin {
            pendingJoin = nil
            return .pair(pairing, reply)
        }
        if let host = peers.peers.first(where: { $0.addresses.contains(.hostChannel) }) {
            toldUnpaired = false
            return .handshake(host)
        }
        if !toldUnpaired {
            toldUnpaired = true
            logger.notice("the VM host is attached but not paired with this guest: run `clipd pair` on the host and `clipd pair CODE virtio` here")
        }
        return .wait
    }
}
