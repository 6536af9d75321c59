import ClipSync
import ClipWire

/// The far end of one engine session: a peer daemon's encrypted connection, or a guest's
/// SPICE agent. The daemon carries the engine's actions out through this, whichever it is.
///
/// Called on the daemon's event loop only.
protocol SessionEndpoint: AnyObject {
    /// Who is at the other end, for logs and `--wait` messages.
    var sessionName: String { get }
    /// Delivers one message of the engine.
    func send(_ message: SessionMessage)
    /// The engine has item bytes for the session: pull them (`Daemon.nextStreamMessage`)
    /// while the transport takes more.
    func streamReady()
    /// The engine found the session broken: end it (a peer) or start it over (an agent).
    func breakSession(reason: String)
}

extension PeerConnection: SessionEndpoint {
    var sessionName: String { peer?.name ?? "peer" }
    func send(_ message: SessionMessage) { send(message, flush: true) }
    func breakSession(reason: String) { close(reason: reason) }
}

extension VDAgentConnection: SessionEndpoint {
    var sessionName: String { name }
}
