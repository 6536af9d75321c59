import ClipSync
import ClipWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Pause and resume, and per-peer settings changed while running. Every change is applied
/// to the open sessions at once (the engine's `updatePolicy`); none is dropped.
extension Daemon {
    /// What goes between this daemon and a paired peer now: nothing while paused, else its
    /// peers.toml policy.
    func effectivePolicy(for peer: DeviceID) -> PeerPolicy {
        paused ? Self.pausedPolicy : (peers.peer(id: peer)?.policy ?? .open)
    }

    /// What goes between this daemon and a guest's SPICE agent now.
    var agentPolicy: PeerPolicy { paused ? Self.pausedPolicy : .open }

    static let pausedPolicy = PeerPolicy(direction: .off)

    /// Gives every open session the policy it should have now.
    func applyPolicies() {
        assertOnLoop()
        for (id, connection) in connections {
            guard let peer = connection.peer else { continue }
            hub.perform(engine.updatePolicy(id, effectivePolicy(for: peer.deviceID)))
        }
        for id in agentSessions.keys { hub.perform(engine.updatePolicy(id, agentPolicy)) }
    }

    /// `clipd pause` and `clipd resume`. Pausing is remembered in the runtime directory, so
    /// a daemon restarted meanwhile stays paused.
    func setPaused(_ pause: Bool) throws -> ControlResponse {
        assertOnLoop()
        var response = ControlResponse(ok: true)
        guard pause != paused else {
            response.lines = [pause ? "sync was already paused" : "sync was not paused"]
            return response
        }
        if pause {
            try PrivateFiles.writeAtomically(paths.pausedFile, contents: Array("paused\n".utf8))
        } else if unlink(paths.pausedFile) != 0 && errno != ENOENT {
            throw DaemonError("cannot remove \(paths.pausedFile): \(String(cString: strerror(errno)))")
        }
        paused = pause
        applyPolicies()
        logger.notice(pause ? "sync paused: copies stay on this machine and peers' copies are refused" : "sync resumed")
        response.lines = [pause
            ? "sync paused: copies here stay here and nothing from peers is applied until `clipd resume`"
            : "sync resumed: the next copy on any machine is synced"]
        return response
    }

    /// `clipd peers set PEER --direction D`: stores the peer's new direction in peers.toml
    /// and applies it to its open session.
    func setPeerDirection(_ request: ControlRequest) throws -> ControlResponse {
        assertOnLoop()
        let query = request.peer ?? ""
        guard let text = request.direction, let direction = PeerPolicy.Direction(rawValue: text) else {
            throw DaemonError("direction must be one of \(PeerPolicy.Direction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var peer = try pairedPeer(query)
        peer.policy.direction = direction
        try peers.upsert(peer)
        applyPolicies()
        var response = ControlResponse(ok: true)
        response.lines = ["\(peer.name): \(Self.describe(direction))" + (paused ? " (sync is paused: nothing goes until `clipd resume`)" : "")]
        return response
    }

    static func describe(_ direction: PeerPolicy.Direction) -> String {
        switch direction {
        case .both: "both ways"
        case .send: "send only (items go to it, nothing is taken from it)"
        case .receive: "receive only (items are taken from it, nothing goes to it)"
        case .off: "off (paired and connected, nothing exchanged)"
        }
    }
}
