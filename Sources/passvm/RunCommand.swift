import ArgumentParser
import ClipControl
import Dispatch
import Foundation
import PassthroughCore

#if canImport(Glibc)
import Glibc
#endif

/// `passvm run`: checks, then QEMU with a QMP socket; holds the SPICE agent's port for the
/// VM's life; reports the guest opening clipd's port, attaches the running clipd daemon to
/// the channels while the VM runs, and powers the guest down cleanly on SIGINT or SIGTERM.
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
        // The agent's port is held before QEMU starts (QEMU waits for it), for as long as
        // the VM runs, whatever clipd does (README, "The agent's port holder").
        let heldPort: HeldAgentPort?
        do {
            heldPort = vm.vdagent ? try HeldAgentPort(qemuSocket: paths.vdagentSocket, listenPath: paths.agentHolderSocket,
                                                        guestPortStartsClosed: true, log: { say("\(vm.name): agent port: \($0)") }) : nil
        } catch {
            throw fail("cannot hold the SPICE agent's port: \(error)")
        }
        // Its own session: a Ctrl-C in this terminal reaches passvm, which powers the guest
        // down, instead of killing QEMU outright.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            heldPort?.stop()
            throw fail("cannot start \(qemu): \(error)")
        }
        say("\(vm.name): QEMU started (pid \(process.processIdentifier))")

        let qmp: QMPConnection
        do {
            qmp = try QMPConnection(path: paths.qmpSocket, timeout: 15)
        } catch {
            process.terminate()
            heldPort?.stop()
            throw fail("\(error); QEMU's messages are above")
        }
        let clipd = ClipdAttachment(home: clipdHome)
        let channel = vm.clipboardChannel.map { _ in "unix:\(paths.clipdSocket)" }
        if let channel { clipd.attach(channel) }
        // The stock agent's port, through its holder: clipd plays the SPICE client on it.
        let agentChannel = vm.vdagent ? "unix:\(paths.agentHolderSocket)" : nil
        if let agentChannel { clipd.attach(agentChannel, vdagent: true) }
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
                    heldPort?.guestPort(open: (data["open"] as? Bool) == true)
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
        if let channel { clipd.detach(channel) }
        if let agentChannel { clipd.detach(agentChannel, vdagent: true) }
        heldPort?.stop()
        for path in [paths.qmpSocket, paths.clipdSocket, paths.vdagentSocket, paths.agentHolderSocket, paths.pidFile] { unlink(path) }
        say("\(vm.name): stopped (QEMU exit status \(process.terminationStatus))")
        if process.terminationStatus != 0 { throw ExitCode(process.terminationStatus) }
    }
}

/// Whether a power-down is under way; the first signal starts it.
///
/// Sound as `@unchecked Sendable`: signal handlers run on dispatch's threads, and the flag
/// is read and set only under `lock`.
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
