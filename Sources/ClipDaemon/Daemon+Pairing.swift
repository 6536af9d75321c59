import ClipWire
import NIOCore

/// Pairing, as the daemon takes part in it: `clipd pair CODE TARGET` dials (or, in a guest,
/// waits for the host's hello), and the handshakes' pairing events go to the
/// `PairingService`, which owns the window and saves pairs.
extension Daemon: PairingServiceHost {
    var pairingAddresses: [String] { links.set.listening + (links.hasHostChannels ? [PeerAddress.hostChannelName] : []) }

    /// A peer was paired again: sessions made with its old keys end.
    func pairStored(_ id: DeviceID) {
        for connection in connections.values where connection.peer?.deviceID == id {
            connection.close(reason: "re-paired")
        }
    }

    func joinPairing(_ request: ControlRequest, client: ControlConnection) throws {
        let code = try PairingCode(parsing: request.code ?? "")
        let targetText = request.target ?? ""
        if PeerAddress(targetText) == .hostChannel {
            try joinOverVirtio(try PairingInitiator(code: code, local: identity.deviceIdentity, key: identity.key), client: client)
            return
        }
        if targetText.hasPrefix("unix:") {
            throw DaemonError("pairing over a VM channel starts in the guest: run `clipd pair` on the host and `clipd pair CODE virtio` in the guest")
        }
        let target = try HostPort(parsing: targetText)
        // The bootstrap's closures run on `loop` (the daemon's only loop), where these
        // non-Sendable values live.
        let bound = NIOLoopBound((try PairingInitiator(code: code, local: identity.deviceIdentity, key: identity.key), client), eventLoop: loop)
        TCPTransport.dial(target, group: group) { [self] _ in
            let (pairing, client) = bound.value
            return PeerConnection(owner: self, role: .pairingInitiator(pairing, target: .network(target.description), reply: client), remote: target.description)
        }
        .whenFailure { error in
            bound.value.1.finish(.failure("pairing failed: cannot reach \(target): \(Transport.shortError(error))"))
        }
    }

    /// `clipd pair CODE virtio` in a guest: the pairing starts at the host's next hello,
    /// which a fresh open of the port asks for.
    func joinOverVirtio(_ pairing: PairingInitiator, client: ControlConnection) throws {
        guard let link = links.set.channels(.clipd).first(where: { $0.channel.isGuest }) else {
            throw DaemonError("this daemon has no VM channel to a host: `clipd pair CODE virtio` works in a guest whose clipd runs with its virtio port (--virtio DEVICE, found by default at /dev/virtio-ports/\(VirtioChannel.portName))")
        }
        self.pairing.guestLink.pendingJoin?.1.finish(.failure("pairing failed: replaced by a newer `clipd pair`"))
        self.pairing.guestLink.pendingJoin = (pairing, client)
        link.connection.reconnectNow()  // the host says hello again to the new open
    }

    // MARK: The handshakes' pairing events (HandshakeAuthority)

    func takePairingCode(from remote: String) -> PairingService.CodeOutcome { pairing.takeCode(from: remote) }

    func pairingFailed(_ error: PairingError) { pairing.failed(error) }

    func pairingSucceeded(_ paired: PairedPeer) -> Bool { pairing.succeeded(paired) }

    func pairingAbandoned(by remote: String) { pairing.abandoned(by: remote) }

    /// The joiner's side paired: save the peer with the address it dialled, and dial it.
    func joinSucceeded(_ paired: PairedPeer, target: PeerAddress, reply: PairingReplyTarget) {
        guard pairing.joined(paired, at: target, reply: reply) else { return }
        links.set.dialer(paired.identity.deviceID)?.connected()
        links.ensureDialer(paired.identity.deviceID)
    }
}
