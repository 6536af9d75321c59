import ClipPortHolder
import Foundation

/// An `AgentPortHolder` on a thread of its own, for `passvm run` and `passvm hold`.
///
/// Threading: `start` and `stop` are called from one thread (the command's); the holder's
/// loop runs on `thread`, and `guestPort` may be called from any thread (it posts).
final class HeldAgentPort: Sendable {
    let holder: AgentPortHolder
    private let finished = DispatchSemaphore(value: 0)

    /// Starts holding the port QEMU serves at `qemuSocket`; clipd attaches at `listenPath`.
    init(qemuSocket: String, listenPath: String, guestPortStartsClosed: Bool, log: @escaping @Sendable (String) -> Void) throws {
        holder = try AgentPortHolder(qemuSocket: qemuSocket, listenPath: listenPath, guestPortStartsClosed: guestPortStartsClosed, log: log)
        let thread = Thread { [holder, finished] in
            holder.run()
            finished.signal()
        }
        thread.name = "agent port holder"
        thread.start()
    }

    /// QEMU's VSERPORT_CHANGE for the agent's port.
    func guestPort(open: Bool) { holder.post(.guestPort(open: open)) }

    /// Stops the holder and waits (up to 5 s) for its loop to end.
    func stop() {
        holder.post(.stop)
        _ = finished.wait(timeout: .now() + 5)
    }
}
