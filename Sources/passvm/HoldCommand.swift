import ArgumentParser
import ClipPortHolder
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `passvm hold`: the agent's port holder for a VM that `passvm run` did not start (a QEMU
/// script of the user's own; libvirt later). One per VM, started before QEMU and kept for
/// the VM's life (README, "The agent's port holder", has the systemd unit).
struct Hold: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Hold a VM's SPICE agent port for its whole life and serve it to clipd.",
        discussion: """
            Start it before QEMU, with QEMU's agent chardev as a server that waits for it: \
            -chardev socket,id=vdagent,path=QEMU_SOCKET,server=on,wait=on \
            -device virtserialport,chardev=vdagent,id=vdagentport,name=com.redhat.spice.0. \
            clipd attaches with --vdagent unix:LISTEN (passvm hold asks a running clipd to). \
            With --qmp, the agent closing and reopening its port starts a fresh session with \
            nothing stale delivered. Runs until SIGINT or SIGTERM; QEMU may stop and start \
            meanwhile.
            """)

    @Option(name: .customLong("qemu"), help: "QEMU's chardev socket for the agent's port (QEMU listens).")
    var qemuSocket: String

    @Option(help: "The socket clipd attaches to (--vdagent unix:PATH).")
    var listen: String

    @Option(help: "A QMP socket of the VM (-qmp unix:PATH,server=on,wait=off), for the agent's port opening and closing.")
    var qmp: String?

    @Option(name: .customLong("port-id"), help: "The id of the agent's virtserialport device, as QMP names it.")
    var portID = "vdagentport"

    @Option(name: .customLong("clipd-home"), help: "The clipd daemon's --home (default: clipd's own default).")
    var clipdHome: String?

    @Flag(name: .customLong("no-attach"), help: "Do not ask a running clipd to attach.")
    var noAttach = false

    func run() throws {
        let held: HeldAgentPort
        do {
            held = try HeldAgentPort(qemuSocket: qemuSocket, listenPath: listen, guestPortStartsClosed: false, log: { say("agent port: \($0)") })
        } catch {
            throw fail("\(error)")
        }
        let done = DispatchSemaphore(value: 0)
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { done.signal() }
            source.resume()
            return source
        }
        if let qmp { followPort(qmp: qmp, held: held) }
        let clipd = ClipdAttachment(home: clipdHome)
        if !noAttach { clipd.attach("unix:\(listen)", vdagent: true) }
        done.wait()
        signals.forEach { $0.cancel() }
        held.stop()
        say("agent port: stopped holding \(qemuSocket)")
    }

    /// Reads QMP's VSERPORT_CHANGE for the port on a thread of its own, reconnecting when
    /// QEMU restarts: twice a second while QEMU is away (a guest's agent starts seconds
    /// after QEMU does, so no change is missed).
    private func followPort(qmp path: String, held: HeldAgentPort) {
        let id = portID
        let thread = Thread {
            while true {
                guard let connection = try? QMPConnection(path: path, timeout: 0.01) else {
                    usleep(500_000)
                    continue
                }
                connection.readMessages { message in
                    guard message["event"] as? String == "VSERPORT_CHANGE",
                          let data = message["data"] as? [String: Any], data["id"] as? String == id else { return }
                    held.guestPort(open: (data["open"] as? Bool) == true)
                }
                usleep(200_000)
            }
        }
        thread.name = "QMP"
        thread.start()
    }
}
