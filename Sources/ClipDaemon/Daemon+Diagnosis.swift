import ClipSync
import ClipWire
import Foundation
import NIOCore

/// The daemon's side of `clipd doctor`: what it runs with and how each of its links is
/// doing, as findings with their fixes.
extension Daemon {
    func diagnosisResponse() -> ControlResponse {
        var response = ControlResponse(ok: true)
        response.lines = diagnosis().map(\.encoded)
        return response
    }

    func diagnosis() -> [DoctorFinding] {
        assertOnLoop()
        var findings = [DoctorFinding(.ok, "daemon running: \(identity.name) (device \(identity.deviceID.short)), backend \(backend.description), up \(Self.duration(since: startedAt))")]
        if paused { findings.append(DoctorFinding(.problem, "sync is paused: nothing leaves or reaches this machine's clipboard", fix: "clipd resume")) }
        if links.peerListeners.isEmpty {
            findings.append(DoctorFinding(.note, "not listening: this machine only dials its peers", fix: "add listen = [\"0.0.0.0:\(DaemonConfiguration.defaultPort)\"] to \(paths.configFile) if peers must reach it"))
        } else {
            findings.append(DoctorFinding(.ok, "listening on \(listenersDescription.joined(separator: ", "))"))
        }
        findings += peerFindings() + livenessFindings() + channelFindings()
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
                                        fix: "check that clipd runs there and can reach \(listenersDescription.first ?? "this machine")"))
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

    /// An agent channel that is attached with no agent answering the resets.
    private func unansweredAgent(_ name: String, _ connection: VDAgentConnection?) -> DoctorFinding {
        let fix = "in the guest, start the agent: Windows, the \"spice-agent\" service of the virtio-win guest tools (services.msc; it gives up after 10 quick failures and must then be started by hand); Linux, spice-vdagentd and spice-vdagent"
        guard let connection, let since = connection.attachedAt else {
            return DoctorFinding(.problem, "\(name): QEMU is there but the guest's agent has not answered yet", fix: fix)
        }
        let seconds = (NIODeadline.now() - since).nanoseconds / 1_000_000_000
        let resets = connection.resetsUnanswered
        return DoctorFinding(.problem, "\(name): attached for \(seconds) s, and the guest's agent has not answered \(resets) reset\(resets == 1 ? "" : "s")", fix: fix)
    }

    private func channelFindings() -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for link in links.channels {
            let name = "\(link.kind.label) \(link.channel)"
            if link.kind == .spiceAgent {
                let ready = agentSessions.values.contains { $0.channelDescription == link.channel.description }
                if ready {
                    findings.append(DoctorFinding(.ok, "\(name): the guest's agent is ready"))
                } else if link.connection.isConnected {
                    findings.append(unansweredAgent(name, agentConnections[link.channel.description]))
                } else {
                    findings.append(DoctorFinding(.problem, "\(name): not attached (\(link.connection.lastProblem ?? "not tried yet"))",
                                            fix: "start the VM with this chardev socket on port com.redhat.spice.0 (`passvm run` with vdagent = true does)"))
                }
                continue
            }
            if !link.connection.isConnected {
                let fix = link.channel.isGuest
                    ? "the host's clipd must attach this VM's channel (clipd run --virtio unix:PATH there, or `passvm run`)"
                    : "start the VM with this chardev socket on port org.clipd.0 (`passvm run` does), and check this user may open it"
                findings.append(DoctorFinding(.problem, "\(name): not attached (\(link.connection.lastProblem ?? "not tried yet"))", fix: fix))
            } else if link.channel.isGuest && !connections.values.contains(where: { $0.peer?.addresses.contains(.hostChannel) == true }) {
                let paired = peers.peers.contains { $0.addresses.contains(.hostChannel) }
                findings.append(paired
                    ? DoctorFinding(.problem, "\(name): attached, but no session with the host", fix: "check the host's clipd (`clipd doctor` there)")
                    : DoctorFinding(.problem, "\(name): attached, but this guest is not paired with the host", fix: "run `clipd pair` on the host, then `clipd pair CODE virtio` here"))
            } else {
                findings.append(DoctorFinding(.ok, "\(name): attached"))
            }
        }
        for listener in links.channelListeners(.clipd) {
            findings.append(DoctorFinding(.ok, "VM channel: waiting for QEMU on \(listener.channel.localAddress.map { "\($0)" } ?? "its socket")"))
        }
        for spec in links.channelListeners(.spiceAgent).map(\.bound) {
            if agentSessions.values.contains(where: { $0.channelDescription == spec }) {
                findings.append(DoctorFinding(.ok, "SPICE agent channel \(spec): the guest's agent is ready"))
            } else if let connection = agentConnections[spec] {
                findings.append(unansweredAgent("SPICE agent channel \(spec)", connection))
            } else {
                findings.append(DoctorFinding(.ok, "SPICE agent channel: waiting for QEMU on \(spec)"))
            }
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
