import CX11
import CX11Support
import ClipSync
import ClipWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The X11 clipboard: libX11 + XFixes on a dedicated thread that sleeps in poll() on the
/// display's socket and a wake-up eventfd. No timers at rest, no polling, no helpers.
///
/// Threading: `start`, `own` and `stop` may be called from any thread (the daemon's loop);
/// they hand work to the X thread through `pending` under `lock` and wake it. All X state
/// lives on the X thread. That split is what makes the unchecked conformance sound.
public final class X11Backend: ClipboardBackend, @unchecked Sendable {
    public let displayName: String?
    private let selections: Set<Selection>
    private let policy: X11Policy
    private let lock = NSLock()
    private var pending: [Selection: ClipItem] = [:]
    private var stopping = false
    /// A pipe whose read end wakes the X thread's poll().
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private var thread: Thread?

    public init(displayName: String?, selections: Set<Selection>, policy: X11Policy) {
        self.displayName = displayName
        self.selections = selections
        self.policy = policy
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0, "pipe failed")
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
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
        let thread = Thread { [self] in run(onCopy: onCopy, onReconnect: onReconnect, log: log) }
        thread.name = "clipd-x11"
        self.thread = thread
        thread.start()
    }

    public func own(_ item: ClipItem) {
        lock.lock()
        pending[item.selection] = item
        lock.unlock()
        wake()
    }

    public func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        wake()
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
    }

    private func takeWork() -> (items: [ClipItem], stop: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let items = Array(pending.values)
        pending.removeAll()
        return (items, stopping)
    }

    // MARK: The X thread

    private func run(onCopy: @escaping @Sendable (LocalCopy) -> Void, onReconnect: @escaping @Sendable () -> Void,
                     log: @escaping @Sendable (String) -> Void) {
        var session: X11Session?
        var retryDelay = 0.5
        var reportedLoss = false
        while true {
            if session == nil {
                session = X11Session(displayName: displayName, selections: selections, policy: policy, onCopy: onCopy, log: log)
                if session != nil {
                    if reportedLoss {
                        log("X display is back; syncing again")
                        onReconnect()  // the daemon hands over its current items again
                    }
                    reportedLoss = false
                    retryDelay = 0.5
                } else {
                    if !reportedLoss { log("lost the X display; retrying with back-off while peers keep syncing") }
                    reportedLoss = true
                }
            }
            let timeout: Int32
            if let session {
                timeout = session.nextDeadline.map { Int32(max(0, ($0 - monotonicSeconds()) * 1000) + 1) } ?? -1
            } else {
                timeout = Int32(retryDelay * 1000)
                retryDelay = min(retryDelay * 2, 30)
            }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if let session { fds.append(pollfd(fd: session.connectionNumber, events: Int16(POLLIN), revents: 0)) }
            // Xlib may already hold events read during an earlier round trip: never sleep then.
            let queued = session.map { XPending($0.display) > 0 } ?? false
            if let live = session, clipd_x11_connection_lost() != 0 {
                // Xlib gave up on the connection (its fd may be closed, even reused): drop
                // the session before polling anything and reconnect.
                live.close()
                session = nil
                continue
            }
            if !queued { _ = poll(&fds, nfds_t(fds.count), timeout) }
            var drained = [UInt8](repeating: 0, count: 64)
            while read(wakeRead, &drained, drained.count) > 0 {}
            let (items, stop) = takeWork()
            guard !stop else {
                session?.close()
                return
            }
            guard let live = session else { continue }  // `onReconnect` catches up later
            for item in items { live.own(item) }
            let now = monotonicSeconds()
            while clipd_x11_connection_lost() == 0 && XPending(live.display) > 0 {
                var event = XEvent()
                XNextEvent(live.display, &event)
                live.handle(&event, now: now)
            }
            live.expire(now: monotonicSeconds())
            if clipd_x11_connection_lost() == 0 { XFlush(live.display) }
            if clipd_x11_connection_lost() != 0 {
                live.close()
                session = nil
            }
        }
    }
}

/// A backend that cannot run; the message is one line for people.
public struct BackendError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
