import ClipSync
import ClipWire
import Foundation

/// The Wayland clipboard through a data-control protocol (ext-data-control-v1, else
/// zwlr_data_control_manager_v1): no window, no focus, no polling, no helper programs. A
/// dedicated thread sleeps in poll() on the compositor's socket, the pipes of transfers
/// under way and a wake-up pipe.
///
/// Threading: `start`, `own` and `stop` may be called from any thread (the daemon's loop);
/// the `DesktopLoop` hands work to the Wayland thread, where all Wayland state lives.
/// Sound as `@unchecked Sendable`: the one mutable field, `started`, is only touched under
/// `lock` (the daemon may call `own` while `start` still runs on another thread); every
/// other field is immutable.
public final class WaylandBackend: ClipboardBackend, @unchecked Sendable {
    /// The socket name or path; nil means `WAYLAND_DISPLAY`.
    public let displayName: String?
    private let selections: Set<Selection>
    private let policy: ClipboardPolicy
    private let lock = NSLock()
    /// The loop and the protocol bound, once `start` succeeded.
    private var started: (loop: DesktopLoop, protocolName: String)?
    private var loop: DesktopLoop? { lock.withLock { started?.loop } }

    public init(displayName: String?, selections: Set<Selection>, policy: ClipboardPolicy) {
        self.displayName = displayName
        self.selections = selections
        self.policy = policy
    }

    public var description: String {
        let name = displayName ?? ProcessInfo.processInfo.environment["WAYLAND_DISPLAY"] ?? "wayland-0"
        guard let protocolName = lock.withLock({ started?.protocolName }) else { return "wayland \(name)" }
        return "wayland \(name) (\(protocolName))"
    }

    /// Checks that a compositor is reachable and offers data-control, then disconnects:
    /// throws the one-line error `start` would, else returns the protocol it offers, its
    /// version and the selections it carries. Any thread.
    @discardableResult
    public static func probe(displayName: String?) throws -> String {
        let session = try WaylandDisplayConnection.connect(displayName: displayName, selections: [], policy: ClipboardPolicy(), mailbox: ReadMailbox(wake: {}),
                                                 onCopy: { _ in }, log: { _ in })
        defer { session.close() }
        return session.protocolSummary
    }

    public func start(onCopy: @escaping @Sendable (LocalCopy) -> Void, onReconnect: @escaping @Sendable () -> Void,
                      log: @escaping @Sendable (String) -> Void) throws {
        // The first connection is made here so that a compositor without data-control is a
        // clear error at start; later losses are retried on the thread.
        let (displayName, selections, policy) = (displayName, selections, policy)
        let loop = DesktopLoop(name: "the Wayland compositor") { mailbox in
            try? WaylandDisplayConnection.connect(displayName: displayName, selections: selections, policy: policy, mailbox: mailbox, onCopy: onCopy, log: log)
        }
        let first = try WaylandDisplayConnection.connect(displayName: displayName, selections: selections, policy: policy, mailbox: loop.mailbox, onCopy: onCopy, log: log)
        lock.withLock { started = (loop, first.protocolName) }
        loop.start(first: first, threadName: "clipd-wayland", onReconnect: onReconnect, log: log)
    }

    public func own(_ header: ItemHeader, content: ItemContent) { loop?.own(header, content: content) }

    public func stop() { loop?.stop() }
}
