import ClipWire
import NIOCore
import NIOPosix

/// An open pairing window: one code, one attempt, ten minutes.
final class PairingWindow {
    static let lifetime = TimeAmount.minutes(10)

    let code: PairingCode
    let reply: ControlConnection
    let expiry: Scheduled<Void>
    var burned = false

    init(code: PairingCode, reply: ControlConnection, expiry: Scheduled<Void>) {
        self.code = code
        self.reply = reply
        self.expiry = expiry
    }
}

extension Daemon {
    func openPairingWindow(_ client: ControlConnection, lifetimeMilliseconds: Int?) throws {
        guard !listenersDescription.isEmpty || hasHostChannels else {
            throw DaemonError("this daemon does not accept connections, so nobody can pair with it; restart it with --listen HOST:PORT (e.g. --listen 0.0.0.0:\(DaemonConfiguration.defaultPort)), or run `clipd pair CODE TARGET` here with a code from the other device")
        }
        guard pairingWindow == nil else { throw DaemonError("a pairing window is already open on this daemon") }
        let code = PairingCode.generate()
        let lifetime = min(TimeAmount.milliseconds(Int64(max(1, lifetimeMilliseconds ?? Int.max / 2))), PairingWindow.lifetime)
        let expiry = loop.scheduleTask(in: lifetime) { [self] in
            guard let window = pairingWindow, window.code == code else { return }
            pairingWindow = nil
            window.reply.finish(.failure("pairing failed: the code expired after \(Self.describe(lifetime)); run `clipd pair` again"))
        }
        pairingWindow = PairingWindow(code: code, reply: client, expiry: expiry)
        var response = ControlResponse(ok: true)
        response.code = code.description
        response.lines = listenersDescription + (hasHostChannels ? [PeerAddress.hostChannelName] : [])
        client.reply(response)
        logger.info("pairing window open", metadata: ["for": "\(Self.describe(lifetime))"])
    }

    /// What a pairing attempt gets of the window.
    enum CodeOutcome {
        /// No window is open.
        case none
        /// Another attempt took the code: it is spoiled, and the window closes at once.
        case taken
        /// The code, burned for this attempt.
        case code(PairingCode)
    }

    /// Burns the open window's code for the first well-formed pairing attempt, and tells
    /// `clipd pair` at once who took it. A second attempt while the first is under way
    /// means one of the two is not the other device: the window fails at once, saying
    /// so, and both the second joiner and `clipd pair` know to start over.
    func takePairingCode(from remote: String) -> CodeOutcome {
        guard let window = pairingWindow else { return .none }
        guard !window.burned else {
            pairingWindow = nil
            window.expiry.cancel()
            logger.warning("pairing spoiled: a second connection tried the code while the first used it", metadata: ["remote": "\(remote)"])
            window.reply.finish(.failure("pairing failed: two connections tried the code (the second from \(remote)); someone else knows it or raced your device. Run `clipd pair` again for a new code"))
            return .taken
        }
        window.burned = true
        var note = ControlResponse(ok: true)
        note.lines = ["the code was taken by a connection from \(remote); waiting for it to finish pairing (if that was not your other device, run `clipd pair` again)"]
        window.reply.reply(note)
        return .code(window.code)
    }

    /// The listener's side paired (the joiner confirmed with PAIR_DONE): store the peer (it
    /// will dial us) and close the window. False when it could not be saved (the joiner is
    /// then told, and stores nothing either).
    @discardableResult
    func pairingSucceeded(_ paired: PairedPeer) -> Bool {
        let window = pairingWindow
        pairingWindow = nil
        window?.expiry.cancel()
        // Stored even if the window's client went away meanwhile: the joiner waits for it.
        return store(paired, address: nil, reply: window?.reply)
    }

    func pairingFailed(_ error: PairingError) {
        let window = pairingWindow
        pairingWindow = nil
        window?.expiry.cancel()
        logger.warning("pairing failed", metadata: ["reason": "\(error)"])
        window?.reply.finish(.failure(error.description))
    }

    /// A pairing attempt took the code and ended before confirming it: the window closes at
    /// once (its code is burned) and `clipd pair` says so, rather than waiting out the
    /// window's ten minutes.
    func pairingAbandoned(by remote: String) {
        guard let window = pairingWindow, window.burned else { return }
        pairingWindow = nil
        window.expiry.cancel()
        logger.warning("pairing abandoned: the code was used and the attempt did not finish", metadata: ["remote": "\(remote)"])
        window.reply.finish(.failure("pairing failed: someone tried your code from \(remote) and did not finish; the code is used up. If that was not the other device, someone else knows the code: run `clipd pair` again"))
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

    /// The joiner's side paired: store the peer with the address it dialled, and dial it.
    func joinSucceeded(_ paired: PairedPeer, target: PeerAddress, reply: PairingReplyTarget) {
        guard store(paired, address: target, reply: reply) else { return }
        links.dialer(paired.identity.deviceID)?.connected()
        ensureDialer(paired.identity.deviceID)
    }

    /// Saves a new pairing (the address, if any, goes first in the peer's list), answers the
    /// client, and drops sessions made with the peer's old keys. False when saving failed.
    @discardableResult
    private func store(_ paired: PairedPeer, address: PeerAddress?, reply: PairingReplyTarget?) -> Bool {
        let id = paired.identity.deviceID
        var addresses = peers.peer(id: id)?.addresses ?? []
        if let address {
            addresses.removeAll { $0 == address }
            addresses.insert(address, at: 0)
        }
        do {
            try peers.upsert(StoredPeer(identity: paired.identity, psk: paired.psk, addresses: addresses))
        } catch {
            reply?.finish(.failure("pairing succeeded but the peer could not be saved: \(error)"))
            return false
        }
        logger.info("paired", metadata: ["peer": "\(paired.identity.name)", "device": "\(id.short)"])
        var response = ControlResponse(ok: true)
        response.lines = ["paired with \(paired.identity.name) (device \(id.short))"]
        reply?.finish(response)
        for connection in connections.values where connection.peer?.deviceID == id {
            connection.close(reason: "re-paired")
        }
        return true
    }

    static func describe(_ time: TimeAmount) -> String {
        let seconds = time.nanoseconds / 1_000_000_000
        if seconds >= 60 && seconds % 60 == 0 { return "\(seconds / 60) minutes" }
        return seconds == 1 ? "1 second" : "\(seconds) seconds"
    }
}
