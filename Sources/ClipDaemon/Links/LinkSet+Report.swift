import NIOCore

/// What the links' report needs of the sessions that run over them.
///
/// Called on the daemon's event loop only.
protocol LinkSessions: AnyObject {
    /// How many guests' agents are ready (their sessions open).
    var agentsReady: Int { get }
    /// Whether the agent on this channel (its spec) is ready.
    func agentReady(on channel: String) -> Bool
    /// The live agent connection on this channel, if any.
    func agentConnection(on channel: String) -> VDAgentConnection?
    /// In a guest: whether a session with the host is open, and whether it is paired with one.
    var hostSessionOpen: Bool { get }
    var pairedWithHost: Bool { get }
}

/// The links' part of `clipd status` and `clipd doctor`: each link says how it is doing.
extension LinkSet {
    /// Where peers reach this daemon, for people ("127.0.0.1:7439").
    var listening: [String] { peerListeners.map(\.bound) }

    /// The status lines of listeners and channels.
    func statusLines(_ sessions: LinkSessions) -> [String] {
        var lines = [listening.isEmpty ? "listening: no (dials out only; add --listen HOST:PORT to accept peers)"
                                       : "listening: \(listening.joined(separator: ", "))"]
        let clipdLinks = channels(.clipd), clipdListeners = channelListeners(.clipd)
        if !clipdLinks.isEmpty || !clipdListeners.isEmpty {
            let attached = clipdLinks.filter(\.connection.isConnected).count
            let names = clipdLinks.map(\.channel.description) + clipdListeners.map(\.bound)
            lines.append("VM channels: \(names.joined(separator: ", ")) (\(attached) of \(clipdLinks.count) attached)")
        }
        let agentLinks = channels(.spiceAgent), agentListeners = channelListeners(.spiceAgent)
        if !agentLinks.isEmpty || !agentListeners.isEmpty {
            let names = agentLinks.map(\.channel.description) + agentListeners.map(\.bound)
            lines.append("SPICE agent channels: \(names.joined(separator: ", ")) (\(sessions.agentsReady) of \(names.count) agents ready)")
        }
        return lines
    }

    /// Whether peers can reach this daemon, with the fix when they cannot.
    func listenerFinding(configFile: String) -> DoctorFinding {
        guard !listening.isEmpty else {
            return DoctorFinding(.note, "not listening: this machine only dials its peers",
                                 fix: "add listen = [\"0.0.0.0:\(DaemonConfiguration.defaultPort)\"] to \(configFile) if peers must reach it")
        }
        return DoctorFinding(.ok, "listening on \(listening.joined(separator: ", "))")
    }

    /// How each VM and agent channel is doing, with the fix for each problem.
    func channelFindings(_ sessions: LinkSessions) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for link in channels {
            let name = "\(link.kind.label) \(link.channel)"
            if link.kind == .spiceAgent {
                if sessions.agentReady(on: link.channel.description) {
                    findings.append(DoctorFinding(.ok, "\(name): the guest's agent is ready"))
                } else if link.connection.isConnected {
                    findings.append(Self.unansweredAgent(name, sessions.agentConnection(on: link.channel.description)))
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
            } else if link.channel.isGuest && !sessions.hostSessionOpen {
                findings.append(sessions.pairedWithHost
                    ? DoctorFinding(.problem, "\(name): attached, but no session with the host", fix: "check the host's clipd (`clipd doctor` there)")
                    : DoctorFinding(.problem, "\(name): attached, but this guest is not paired with the host", fix: "run `clipd pair` on the host, then `clipd pair CODE virtio` here"))
            } else {
                findings.append(DoctorFinding(.ok, "\(name): attached"))
            }
        }
        for listener in channelListeners(.clipd) {
            findings.append(DoctorFinding(.ok, "VM channel: waiting for QEMU on \(listener.channel.localAddress.map { "\($0)" } ?? "its socket")"))
        }
        for spec in channelListeners(.spiceAgent).map(\.bound) {
            if sessions.agentReady(on: spec) {
                findings.append(DoctorFinding(.ok, "SPICE agent channel \(spec): the guest's agent is ready"))
            } else if let connection = sessions.agentConnection(on: spec) {
                findings.append(Self.unansweredAgent("SPICE agent channel \(spec)", connection))
            } else {
                findings.append(DoctorFinding(.ok, "SPICE agent channel: waiting for QEMU on \(spec)"))
            }
        }
        return findings
    }

    /// An agent channel that is attached with no agent answering the resets.
    private static func unansweredAgent(_ name: String, _ connection: VDAgentConnection?) -> DoctorFinding {
        let fix = "in the guest, start the agent: Windows, the \"spice-agent\" service of the virtio-win guest tools (services.msc; it gives up after 10 quick failures and must then be started by hand); Linux, spice-vdagentd and spice-vdagent"
        guard let connection, let since = connection.attachedAt else {
            return DoctorFinding(.problem, "\(name): QEMU is there but the guest's agent has not answered yet", fix: fix)
        }
        let seconds = (NIODeadline.now() - since).nanoseconds / 1_000_000_000
        let resets = connection.resetsUnanswered
        return DoctorFinding(.problem, "\(name): attached for \(seconds) s, and the guest's agent has not answered \(resets) reset\(resets == 1 ? "" : "s")", fix: fix)
    }
}
