import ClipSync
import ClipWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One live connection to a desktop's clipboard (an X display, a Wayland compositor),
/// driven by a `DesktopLoop`. Confined to the loop's thread.
protocol DisplayConnection: AnyObject {
    /// Gets ready to sleep (expires stalled transfers, flushes requests) and returns the
    /// descriptors to wait on; `immediate` when events are already queued.
    func prepareToSleep(now: Double) -> (descriptors: [pollfd], immediate: Bool)
    /// Handles what poll reported for the descriptors `prepareToSleep` returned, in order.
    /// Called once after every `prepareToSleep`.
    func handle(ready: ArraySlice<pollfd>, now: Double)
    /// Makes the item the desktop's selection.
    func own(_ header: ItemHeader, content: ItemContent)
    /// An item reader answered the read the connection asked for with `token`.
    func readArrived(_ token: Int, _ outcome: ReadOutcome)
    /// When the next transfer may stall out, if any is under way.
    var nextDeadline: Double? { get }
    /// The desktop went away; the loop closes the connection and reconnects.
    var isLost: Bool { get }
    func close()
}

/// Carries the answers of item readers, which come on the daemon's thread, to a desktop
/// connection's thread: each read is asked with a token, its answer is queued under a lock
/// and the loop is woken to hand it over.
///
/// Threading: `deliverer`, `nextToken` and `take` may be called from any thread.
/// Sound as `@unchecked Sendable`: every mutable field is touched only under `lock`, and
/// `wake` is immutable.
final class ReadMailbox: @unchecked Sendable {
    private let lock = NSLock()
    private var arrived: [(token: Int, outcome: ReadOutcome)] = []
    private var counter = 0
    private var closed = false
    private let wake: @Sendable () -> Void

    init(wake: @escaping @Sendable () -> Void) { self.wake = wake }

    /// A token no earlier read had (tokens of a lost connection never reach its successor).
    func nextToken() -> Int {
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        return counter
    }

    /// The callback to give a reader for the read with `token`.
    func deliverer(for token: Int) -> @Sendable (ReadOutcome) -> Void {
        { [self] outcome in
            lock.lock()
            defer { lock.unlock() }
            guard !closed else { return }  // the loop is gone, and so is its wake-up pipe
            arrived.append((token, outcome))
            wake()
        }
    }

    /// No more answers are taken (the loop's pipe is about to close).
    func close() {
        lock.lock()
        closed = true
        lock.unlock()
    }

    func take() -> [(token: Int, outcome: ReadOutcome)] {
        lock.lock()
        defer { lock.unlock() }
        let out = arrived
        arrived.removeAll()
        return out
    }
}

/// A backend's thread: sleeps in poll() on the desktop's descriptors and a wake-up pipe,
/// takes items to own from the daemon, hands over the answers of item readers, and
/// reconnects with back-off when the desktop goes away. No timer runs at rest.
///
/// Sound as `@unchecked Sendable`: `own` and `stop` may be called from any thread; they
/// hand work over under `lock` and wake the thread. Sessions live on the thread alone (the
/// first one is handed over before the thread starts).
final class DesktopLoop: @unchecked Sendable {
    /// What the desktop is called in log lines ("the X display").
    private let name: String
    private let connect: (ReadMailbox) -> DisplayConnection?
    private let lock = NSLock()
    private var pending: [Selection: (header: ItemHeader, content: ItemContent)] = [:]
    private var stopping = false
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// Answers of the item readers the connections asked.
    let mailbox: ReadMailbox

    /// `connect` opens a new connection on the loop's thread, or returns nil when the desktop
    /// cannot be reached.
    init(name: String, connect: @escaping (ReadMailbox) -> DisplayConnection?) {
        self.name = name
        self.connect = connect
        guard let ends = makePipe(nonBlockingRead: true, nonBlockingWrite: true) else { fatalError("no descriptors left for a pipe") }
        (wakeRead, wakeWrite) = ends
        let wakeEnd = ends.write
        mailbox = ReadMailbox(wake: {
            var one: UInt8 = 1
            _ = write(wakeEnd, &one, 1)
        })
    }

    deinit {
        mailbox.close()
        close(wakeRead)
        close(wakeWrite)
    }

    /// Starts the thread with `first`, a connection opened by the caller, or nil to connect on
    /// the thread.
    func start(first: DisplayConnection?, threadName: String, onReconnect: @escaping @Sendable () -> Void,
               log: @escaping @Sendable (String) -> Void) {
        // The connection moves to the new thread and is never touched here again.
        nonisolated(unsafe) let handedOver = first
        let thread = Thread { [self] in run(first: handedOver, onReconnect: onReconnect, log: log) }
        thread.name = threadName
        thread.start()
    }

    func own(_ header: ItemHeader, content: ItemContent) {
        lock.lock()
        pending[header.selection] = (header, content)
        lock.unlock()
        wake()
    }

    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        wake()
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
    }

    private func takeWork() -> (items: [(header: ItemHeader, content: ItemContent)], stop: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let items = Array(pending.values)
        pending.removeAll()
        return (items, stopping)
    }

    private func run(first: DisplayConnection?, onReconnect: @Sendable () -> Void, log: (String) -> Void) {
        var session = first
        var backoff = Backoff(first: .milliseconds(500), maximum: .seconds(30))
        var reportedLoss = false
        while true {
            if session == nil {
                session = connect(mailbox)
                if session != nil {
                    if reportedLoss {
                        log("\(name) is back; syncing again")
                        onReconnect()  // the daemon hands over its current items again
                    }
                    reportedLoss = false
                    backoff.reset()
                } else if !reportedLoss {
                    log("lost \(name); retrying with back-off while peers keep syncing")
                    reportedLoss = true
                }
            }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            var timeout: Int32
            if let live = session {
                let now = monotonicSeconds()
                let plan = live.prepareToSleep(now: now)
                fds += plan.descriptors
                timeout = live.nextDeadline.map { Int32(max(0, ($0 - now) * 1000) + 1) } ?? -1
                if plan.immediate { timeout = 0 }
            } else {
                timeout = Int32(backoff.next().nanoseconds / 1_000_000)
            }
            _ = poll(&fds, nfds_t(fds.count), timeout)
            var drained = [UInt8](repeating: 0, count: 64)
            while read(wakeRead, &drained, drained.count) > 0 {}
            session?.handle(ready: fds[1...], now: monotonicSeconds())
            for answer in mailbox.take() { session?.readArrived(answer.token, answer.outcome) }
            let (items, stop) = takeWork()
            if stop {
                session?.close()
                return
            }
            if let live = session, live.isLost {
                live.close()
                session = nil
                continue  // `onReconnect` hands the items over once the desktop is back
            }
            for item in items { session?.own(item.header, content: item.content) }
        }
    }
}

/// A close-on-exec pipe, each end optionally non-blocking; nil when descriptors run out.
func makePipe(nonBlockingRead: Bool, nonBlockingWrite: Bool) -> (read: Int32, write: Int32)? {
    var ends: [Int32] = [0, 0]
    guard pipe(&ends) == 0 else { return nil }
    for (end, nonBlocking) in zip(ends, [nonBlockingRead, nonBlockingWrite]) {
        _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        if nonBlocking { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
    }
    return (ends[0], ends[1])
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// A backend that cannot run; the message is one line for people.
public struct BackendError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
