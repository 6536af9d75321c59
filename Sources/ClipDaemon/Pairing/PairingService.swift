import ClipWire
import Logging
import NIOCore

/// What pairing needs of the rest of the daemon.
///
/// Called on the daemon's event loop only.
protocol PairingServiceHost: AnyObject {
    /// Where other devices can reach this daemon to pair ("127.0.0.1:7439", "virtio");
    /// empty when nobody can.
    var pairingAddresses: [String] { get }
    /// A pairing was saved: sessions made with the peer's old keys end.
    func pairStored(_ id: DeviceID)
}

/// An open pairing window: one code, one attempt, ten minutes.
final class PairingWindow {
    static let lifetime = TimeAmount.minutes(10)

    let code: PairingCode
    let reply: PairingReplyTarget
    let expiry: Scheduled<Void>
    var burned = false

    init(code: PairingCode, reply: PairingReplyTarget, expiry: Scheduled<Void>) {
        self.code = code
        self.reply = reply
        self.expiry = expiry
    }
}

/// Pairing, both sides of it: the window `clipd pair` opens (one code, burned by the first
/// attempt, ten minutes at most), what ends it, and saving a finished pairing to
/// peers.toml. Owns the window; handshakes reach it through the daemon's
/// `HandshakeAuthority`.
///
/// Confined to the daemon's event loop.
final class PairingService {
    private let loop: EventLoop
    private let logger: Logger
    private let peers: PeerStore
    private unowned let host: PairingServiceHost
    private(set) var window: PairingWindow?
    /// A guest's `clipd pair CODE virtio`, waiting for the host's next hello.
    let guestLink = VirtioGuestLink()

    init(loop: EventLoop, logger: Logger, peers: PeerStore, host: PairingServiceHost) {
        self.loop = loop
        self.logger = logger
        self.peers = peers
        self.host = host
    }

    /// Opens the window for `client` (`clipd pair`), which hears the code and the
    /// addresses at once and the outcome later.
    func open(for client: PairingReplyTarget, lifetimeMilliseconds: Int?) throws {
        let addresses = host.pairingAddresses
        guard !addresses.isEmpty else {
            throw DaemonError("this daemon does not accept connections, so nobody can pair with it; restart it with --listen HOST:PORT (e.g. --listen 0.0.0.0:\(DaemonConfiguration.defaultPort)), or run `clipd pair CODE TARGET` here with a code from the other device")
        }
        guard window == nil else { throw DaemonError("a pairing window is already open on this daemon") }
        let code = PairingCode.generate()
        let lifetime = min(TimeAmount.milliseconds(Int64(max(1, lifetimeMilliseconds ?? Int.max / 2))), PairingWindow.lifetime)
        let this = NIOLoopBound(self, eventLoop: loop)
        let expiry = loop.scheduleTask(in: lifetime) {
            let service = this.value
            guard let window = service.window, window.code == code else { return }
            service.window = nil
            window.reply.finish(.failure("pairing failed: the code expired after \(Self.describe(lifetime)); run `clipd pair` again"))
        }
        window = PairingWindow(code: code, reply: client, expiry: expiry)
        var response = ControlResponse(ok: true)
        response.code = code.description
        response.lines = addresses
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
    func takeCode(from remote: String) -> CodeOutcome {
        guard let window else { return .none }
        guard !window.burned else {
            close()
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

    /// The listener's side paired (the joiner confirmed with PAIR_DONE): save the peer (it
    /// will dial us) and close the window. False when it could not be saved (the joiner is
    /// then told, and stores nothing either).
    func succeeded(_ paired: PairedPeer) -> Bool {
        let reply = window?.reply
        close()
        // Saved even if the window's client went away meanwhile: the joiner waits for it.
        return store(paired, address: nil, reply: reply)
    }

    func failed(_ error: PairingError) {
        let reply = window?.reply
        close()
        logger.warning("pairing failed", metadata: ["reason": "\(error)"])
        reply?.finish(.failure(error.description))
    }

    /// A pairing attempt took the code and ended before confirming it: the window closes at
    /// once (its code is burned) and `clipd pair` says so, rather than waiting out the
    /// window's ten minutes.
    func abandoned(by remote: String) {
        guard let window, window.burned else { return }
        close()
        logger.warning("pairing abandoned: the code was used and the attempt did not finish", metadata: ["remote": "\(remote)"])
        window.reply.finish(.failure("pairing failed: someone tried your code from \(remote) and did not finish; the code is used up. If that was not the other device, someone else knows the code: run `clipd pair` again"))
    }

    /// The joiner's side paired: save the peer with the address it reached. False when it
    /// could not be saved (the client is told).
    func joined(_ paired: PairedPeer, at address: PeerAddress, reply: PairingReplyTarget) -> Bool {
        store(paired, address: address, reply: reply)
    }

    /// `clipd pair` went away: its window closes.
    func clientClosed(_ client: PairingReplyTarget) {
        guard let window, window.reply === client else { return }
        close()
        logger.info("pairing window closed by its client")
    }

    /// Closes the window, if one is open.
    func close() {
        window?.expiry.cancel()
        window = nil
    }

    /// Saves a new pairing (the address, if any, goes first in the peer's list), answers the
    /// client, and ends sessions made with the peer's old keys. False when saving failed.
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
        host.pairStored(id)
        return true
    }

    /// "1 second", "30 seconds", "10 minutes".
    static func describe(_ time: TimeAmount) -> String {
        let seconds = time.nanoseconds / 1_000_000_000
        if seconds >= 60 && seconds % 60 == 0 { return "\(seconds / 60) minutes" }
        return seconds == 1 ? "1 second" : "\(seconds) seconds"
    }
}
