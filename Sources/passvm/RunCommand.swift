import ArgumentParser
import ClipDaemon
import Dispatch
import Foundation
import PassthroughCore

#if canImport(Glibc)
import Glibc
#endif

/// `passvm run`: checks, then QEMU with a QMP socket; reports the guest opening clipd's
/// port, attaches the running clipd daemon to the channel while the VM runs, and powers the
/// guest down cleanly on SIGINT or SIGTERM.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the host, start the VM, and attach the running clipd daemon to its channel.",
        discussion: "Ctrl-C (SIGINT) or SIGTERM asks the guest to power down; after --shutdown-timeout seconds QEMU is stopped.")

    @OptionGroup var options: VMOptions

    @Option(name: .customLong("clipd-home"), help: "The clipd daemon's --home (default: clipd's own default).")
    var clipdHome: String?

    @Option(name: .customLong("shutdown-timeout"), help: "Seconds a guest gets to power down before QEMU is stopped.")
    var shutdownTimeout = 60

    @Option(help: "The QEMU binary.")
    var qemu = "/usr/bin/qemu-system-x86_64"

    func run() throws {
        let (vm, host, paths) = try options.load()
        guard report(HostChecks.run(config: vm, host: host, paths: paths)) else { throw ExitCode(1) }
        do {
            for line in try paths.prepare(for: vm) { say(line) }
        } catch {
            throw fail("\(error)")
        }
        var arguments = QEMUCommand.arguments(config: vm, plan: PassthroughPlan(config: vm, host: host), paths: paths)
        arguments[0] = qemu
        // Its own session: a Ctrl-C in this terminal reaches passvm, which powers the guest
        // down, instead of killing QEMU outright.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw fail("cannot start \(qemu): \(error)") }
        say("\(vm.name): QEMU started (pid \(process.processIdentifier))")

        let qmp: QMPConnection
        do {
            qmp = try QMPConnection(path: paths.qmpSocket, timeout: 15)
        } catch {
            process.terminate()
            throw fail("\(error); QEMU's messages are above")
        }
        let channel = vm.clipboardChannel.map { _ in "unix:\(paths.clipdSocket)" }
        if let channel { attachClipd(channel) }
        // The stock agent's port: clipd plays the SPICE client on it.
        let agentChannel = vm.vdagent ? "unix:\(paths.vdagentSocket)" : nil
        if let agentChannel { attachClipd(agentChannel, vdagent: true) }
        let stopping = ShutdownState()
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [shutdownTimeout] in
                guard stopping.begin() else {
                    qmp.execute("quit")  // a second signal: stop now
                    return
                }
                say("\(vm.name): asking the guest to power down (up to \(shutdownTimeout) s)")
                qmp.execute("system_powerdown")
                DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(shutdownTimeout)) { qmp.execute("quit") }
            }
            source.resume()
            return source
        }
        let reader = Thread {
            qmp.readMessages { message in
                guard let event = message["event"] as? String else { return }
                let data = message["data"] as? [String: Any] ?? [:]
                switch event {
                case "VSERPORT_CHANGE" where data["id"] as? String == "clipdport":
                    say("\(vm.name): the guest \((data["open"] as? Bool) == true ? "opened" : "closed") clipd's channel")
                case "VSERPORT_CHANGE" where data["id"] as? String == "vdagentport":
                    say("\(vm.name): the guest's SPICE agent \((data["open"] as? Bool) == true ? "opened" : "closed") its port")
                case "SHUTDOWN", "POWERDOWN", "RESET", "STOP", "RESUME":
                    say("\(vm.name): \(event.lowercased())")
                default:
                    break
                }
            }
        }
        reader.start()
        process.waitUntilExit()
        signals.forEach { $0.cancel() }
        if let channel { detachClipd(channel) }
        if let agentChannel { detachClipd(agentChannel, vdagent: true) }
        for path in [paths.qmpSocket, paths.clipdSocket, paths.vdagentSocket, paths.pidFile] { unlink(path) }
        say("\(vm.name): stopped (QEMU exit status \(process.terminationStatus))")
        if process.terminationStatus != 0 { throw ExitCode(process.terminationStatus) }
    }

    private var clipdSocket: String {
        DaemonPaths(home: clipdHome, environment: ProcessInfo.processInfo.environment).controlSocket
    }

    /// Asks the running clipd daemon to attach `channel` (clipd's own, or with `vdagent`
    /// the stock agent's port) for as long as the VM runs.
    private func attachClipd(_ channel: String, vdagent: Bool = false) {
        do {
            let client = try ControlClient(socketPath: clipdSocket)
            var request = ControlRequest(op: .channelAttach)
            request.target = channel
            request.vdagent = vdagent
            try client.send(request)
            let (response, _) = try client.receive()
            if response.ok { say("clipd: \(response.lines?.joined(separator: "; ") ?? "attached")") } else { say("clipd: \(response.error ?? "refused the channel")") }
        } catch {
            say("note: \(error); the guest's clipboard joins once a daemon runs with \(vdagent ? "--vdagent" : "--virtio") \(channel)")
        }
    }

    private func detachClipd(_ channel: String, vdagent: Bool = false) {
        guard let client = try? ControlClient(socketPath: clipdSocket) else { return }
        var request = ControlRequest(op: .channelDetach)
        request.target = channel
        request.vdagent = vdagent
        try? client.send(request)
        _ = try? client.receive()
    }
}

/// Whether a power-down is under way; the first signal starts it.
///
/// Signal handlers run on dispatch's threads: the flag is read and set only under `lock`,
/// which is what makes the unchecked conformance sound.
private final class ShutdownState: @unchecked Sendable {
    private let lock = NSLock()
    private var started = false

    func begin() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if started { return false }
        started = true
        return true
    }
}

/// One line on standard output, unbuffered.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
