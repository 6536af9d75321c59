import ClipSync
import ClipWire

// Both kinds of session endpoint the daemon registers with its `SyncHub`.

extension PeerConnection: SessionEndpoint {
    var sessionName: String { peer?.name ?? "peer" }
    func send(_ message: SessionMessage) { send(message, flush: true) }
    func breakSession(reason: String) { close(reason: reason) }
}

extension VDAgentConnection: SessionEndpoint {
    var sessionName: String { name }
}
