import ClipControl
import Foundation

/// Asks the user's running clipd daemon to attach or detach a VM's channels, over its
/// control socket. Nothing waits for a daemon that is not running: it is told how to join.
struct ClipdAttachment {
    /// The daemon's --home (nil: clipd's own default).
    let home: String?

    private var socket: String {
        DaemonPaths(home: home, environment: ProcessInfo.processInfo.environment).controlSocket
    }

    /// Asks the running clipd daemon to attach `channel` (clipd's own, or with `vdagent`
    /// the stock agent's port) for as long as the VM runs.
    func attach(_ channel: String, vdagent: Bool = false) {
        do {
            let client = try ControlClient(socketPath: socket)
            var request = ControlRequest(op: .channelAttach)
            request.target = channel
            request.vdagent = vdagent
            try client.send(request)
            let (response, _) = try client.receive()
            if response.ok { say("clipd: \(response.lines?.joined(separator: "; ") ?? "attached")") } else { say("clipd: \(response.error ?? "refused the channel")") }
        } catch {
            let held = vdagent ? " (its agent's port is held meanwhile, so the agent keeps running)" : ""
            say("note: \(error); the guest's clipboard joins once a daemon runs with \(vdagent ? "--vdagent" : "--virtio") \(channel)\(held)")
        }
    }

    func detach(_ channel: String, vdagent: Bool = false) {
        guard let client = try? ControlClient(socketPath: socket) else { return }
        var request = ControlRequest(op: .channelDetach)
        request.target = channel
        request.vdagent = vdagent
        try? client.send(request)
        _ = try? client.receive()
    }
}
