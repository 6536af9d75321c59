import ClipSync
import ClipWire
import Foundation
import NIOCore

/// The daemon's side of `clipd doctor`: what it runs with, its peers, and what its links
/// say of themselves, as findings with their fixes.
extension Daemon: LinkSessions {
    var agentsReady: Int { agentSessions.count }
    func agentReady(on channel: String) -> Bool { agentSessions.values.contains { $0.channelDescription == channel } }
    func agentConnection(on channel: String) -> VDAgentConnection? { links.agentConnection(on: channel) }
    var hostSessionOpen: Bool { connections.values.contains { $0.peer?.addresses.contains(.hostChannel) == true } }
    var pairedWithHost: Bool { peers.peers.contains { $0.addresses.contains(.hostChannel) } }

    func diagnosisResponse() -> ControlResponse {
        var response = ControlResponse(ok: true)
        response.lines = diagnosis().map(\.encoded)
        return response
    }

    func diagnosis() -> [DoctorFinding] {
        assertOnLoop()
        var findings = [DoctorFinding(.ok, "daemon running: \(identity.name) (device \(identity.deviceID.short)), backend \(desktop.description), up \(Self.duration(since: startedAt))")]
        if paused { findings.append(DoctorFinding(.problem, "sync is paused: nothing leaves or reaches this machine's clipboard", fix: "clipd resume")) }
        findings.append(links.set.listenerFinding(configFile: paths.configFile))
        findings += peerFindings() + livenessFindings() + links.set.channelFindings(self)
        return findings
    }

    private func peerFindings() -> [DoctorFinding] {
        let network = peers.peers.filter { !$0.addresses.contains(.hostChannel) }
        if peers.peers.isEmpty {
            return [DoctorFinding(.problem, "no paired peers: nothing to sync with",
                            fix: "run `clipd pair` here, then `clipd pair CODE HOST:PORT` on the other machine")]
        }
        var findings: [DoctorFinding] = []
        let connected = connectedPeers
        for peer in network {
            let direction = peer.policy.direction == .both ? "" : " (\(Self.describe(peer.policy.direction)))"
            let contact = contacts.describe(peer.deviceID)
            if connected.contains(peer.deviceID) {
                findings.append(DoctorFinding(.ok, "peer \(peer.name): \(contact)\(direction)"))
            } else if let address = peer.addresses.first {
                findings.append(DoctorFinding(.problem, "peer \(peer.name): not connected, dialing \(address) (\(contact))\(direction)",
                                        fix: "check that clipd runs there (`clipd status`), listens on \(address), and that no firewall drops the port"))
            } else {
                findings.append(DoctorFinding(.note, "peer \(peer.name): not connected; it dials this machine (\(contact))",
                                        fix: "check that clipd runs there and can reach \(links.set.listening.first ?? "this machine")"))
            }
        }
        return findings
    }

    /// Peers silent while work waits on them, and transfers whose bytes stopped moving.
    private func livenessFindings() -> [DoctorFinding] {
        var findings = silentPeers().map {
            DoctorFinding(.problem, $0.text, fix: "check the network path to \($0.name) (or whether its machine or VM is asleep); clipd dials it again by itself")
        }
        for transfer in engine.transfers {
            guard let note = stallNote(transfer) else { continue }
            let name = peerName(of: transfer.session)
            findings.append(DoctorFinding(.problem, "\(transfer.selection) item transfer \(transfer.direction == .receiving ? "from" : "to") \(name) \(note)",
                                          fix: "check the network path to \(name) and that clipd runs there (`clipd status` on it)"))
        }
        return findings
    }

    /// "42 s", "3 min", "2 h 5 min", "4 days".
    static func duration(since date: Date, now: Date = Date()) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<86400: return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
        default: return "\(seconds / 86400) days"
        }
    }
}
