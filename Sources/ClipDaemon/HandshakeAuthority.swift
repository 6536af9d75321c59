import ClipCrypto
import ClipWire

/// Where a pairing started by `clipd pair CODE TARGET` reports how it ended: the client
/// that asked for it (a `ControlConnection`), or a test's recorder.
///
/// Called on the daemon's event loop only.
protocol PairingReplyTarget: AnyObject {
    /// Sends an interim line to the client (the request stays open).
    func reply(_ response: ControlResponse, payload: [UInt8])
    /// Sends the final answer; the client closes when it has it.
    func finish(_ response: ControlResponse, payload: [UInt8])
}

extension PairingReplyTarget {
    func reply(_ response: ControlResponse) { reply(response, payload: []) }
    func finish(_ response: ControlResponse) { finish(response, payload: []) }
}

/// What the guest end of a VM channel does once the host has said hello.
enum GuestChannelStep {
    /// `clipd pair CODE virtio` is waiting: pair with the host.
    case pair(PairingInitiator, PairingReplyTarget)
    /// The host is a paired peer: run the Noise handshake with it.
    case handshake(StoredPeer)
    /// Not paired, nobody pairing: wait for the next hello.
    case wait
}

/// What a peer handshake needs of the daemon: this device's identity, the trust store, the
/// replay guard, the pairing window and where a finished pairing is stored. The handshake
/// asks through this and nothing else, so it runs against a fake in its tests.
///
/// Called on the daemon's event loop only.
protocol HandshakeAuthority: AnyObject {
    var identity: LocalIdentity { get }
    /// The paired peer whose static key this is, if any.
    func pairedPeer(staticKey: [UInt8]) -> StoredPeer?
    /// A timestamp for our Noise message 1, newer than any sent before.
    func handshakeTimestamp() -> UInt64
    /// Why a responder must not accept message 1 with this timestamp (a replay), if it must not.
    func handshakeTimestampProblem(_ timestamp: UInt64, from peer: DeviceID) -> String?
    /// A peer we dialled did not accept our keys (it forgot us, or we have stale keys).
    func handshakeRejected(by peer: StoredPeer)
    /// Burns the open window's code for this attempt (see `PairingService.takeCode`).
    func takePairingCode(from remote: String) -> PairingService.CodeOutcome
    /// The listener's side of a pairing failed.
    func pairingFailed(_ error: PairingError)
    /// The listener's side paired: store the peer. False when it could not be saved.
    func pairingSucceeded(_ paired: PairedPeer) -> Bool
    /// Someone took the window's code and went away before confirming it.
    func pairingAbandoned(by remote: String)
    /// The joining side paired and the listener confirmed it stored its side: store ours.
    func joinSucceeded(_ paired: PairedPeer, target: PeerAddress, reply: PairingReplyTarget)
    /// What a guest does after the host's hello.
    func guestChannelStep() -> GuestChannelStep
}
