import CX11
import CX11Support
import ClipSync
import ClipWire
import Foundation

/// The X11 clipboard: libX11 + XFixes on a dedicated thread that sleeps in poll() on the
/// display's socket and a wake-up pipe. No timers at rest, no polling, no helpers.
///
/// Threading: `start`, `own` and `stop` may be called from any thread (the daemon's loop);
/// the `DesktopLoop` hands work to the X thread, where all X state lives.
/// Sound as `@unchecked Sendable`: the one mutable field, `started`, is only touched under
/// `lock` (the daemon may call `own` while `start` still runs on another thread); every
/// other field is immutable.
public final class X11Backend: ClipboardBackend, @unchecked Sendable {
    public let displayName: String?
    private let selections: Set<Selection>
    private let policy: ClipboardPolicy
    private let lock = NSLock()
    /// The loop, once `start` succeeded.
    private var started: DesktopLoop?
    private var loop: DesktopLoop? { lock.withLock { started } }

    public init(displayName: String?, selections: Set<Selection>, policy: ClipboardPolicy) {
        self.displayName = displayName
        self.selections = selections
        self.policy = policy
    }

    public var description: String { "x11 \(displayName ?? ProcessInfo.processInfo.environment["DISPLAY"] ?? "")" }

    public func start(onCopy: @escaping @Sendable (LocalCopy) -> Void, onReconnect: @escaping @Sendable () -> Void,
                      log: @escaping @Sendable (String) -> Void) throws {
        XInitThreads()
        // Fail at once when the display cannot be reached at start: a clear error beats a
        // daemon that silently syncs nothing. Later losses are retried.
        guard let probe = displayName.map({ XOpenDisplay($0) }) ?? XOpenDisplay(nil) else {
            throw BackendError("cannot open X display \(displayName ?? ProcessInfo.processInfo.environment["DISPLAY"] ?? "(DISPLAY unset)"); use --backend memory on a machine without a desktop")
        }
        XCloseDisplay(probe)
        let (displayName, selections, policy) = (displayName, selections, policy)
        let loop = DesktopLoop(name: "the X display") { mailbox in
            X11DisplayConnection(displayName: displayName, selections: selections, policy: policy, mailbox: mailbox, onCopy: onCopy, log: log)
        }
        // The first session is made here, so the selections are watched before the daemon
        // says it runs: a copy made right after `clipd run` answers is not missed (it was,
        // under load, when the thread connected on its own time).
        let first = X11DisplayConnection(displayName: displayName, selections: selections, policy: policy, mailbox: loop.mailbox, onCopy: onCopy, log: log)
        lock.withLock { started = loop }
        loop.start(first: first, threadName: "clipd-x11", onReconnect: onReconnect, log: log)
    }

    /// Opens the display once and lets go: throws the one-line error a start would, else
    /// returns the server's vendor and XFixes version.
    public static func probe(displayName: String?) throws -> String {
        let name = displayName ?? ProcessInfo.processInfo.environment["DISPLAY"] ?? "(DISPLAY unset)"
        guard let display = displayName.map({ XOpenDisplay($0) }) ?? XOpenDisplay(nil) else {
            throw BackendError("cannot open X display \(name): no server there, or this user may not connect (xhost, XAUTHORITY)")
        }
        defer { XCloseDisplay(display) }
        var eventBase: Int32 = 0, errorBase: Int32 = 0, major: Int32 = 0, minor: Int32 = 0
        guard XFixesQueryExtension(display, &eventBase, &errorBase) != 0, XFixesQueryVersion(display, &major, &minor) != 0 else {
            throw BackendError("the X server at \(name) has no XFixes extension: clipd cannot see copies there")
        }
        let vendor = XServerVendor(display).map { String(cString: $0) } ?? "unknown vendor"
        return "\(vendor), XFixes \(major).\(minor)"
    }

    public func own(_ header: ItemHeader, content: ItemContent) { loop?.own(header, content: content) }

    public func stop() { loop?.stop() }
}
