import ClipSync
import NIOCore

/// Keeps one connection open to something that comes and goes (a peer, QEMU, a guest's
/// port): opens it, notices when it closes, and tries again after the waits of its
/// `Backoff`, for as long as it is wanted. No timer runs while it is connected or not
/// wanted. This is the daemon's one reconnect policy.
///
/// Confined to the daemon's event loop.
final class ReconnectingLink {
    /// Opens the transport with its handler in place; throws a one-line reason when it
    /// cannot even be tried (no such device, no address).
    typealias Opener = () throws -> EventLoopFuture<Channel>

    private let loop: EventLoop
    private var backoff: Backoff
    /// A connection that lasted this long counts as working (the next wait is short again);
    /// nil: only `succeeded()` says so.
    private let workingAfter: TimeAmount?
    private let open: Opener
    /// Whether to keep trying (a dialer is not wanted while its peer has a session).
    private let wanted: () -> Bool
    /// Told of every failed attempt, and whether it is the first since the link last worked.
    private let failed: (_ reason: String, _ first: Bool) -> Void
    private(set) var current: Channel?
    private var retry: Scheduled<Void>?
    private var attempting = false
    private var openedAt = NIODeadline.now()
    private var failedSinceWorking = false
    private var stopped = false
    /// Why the last attempt failed, while not connected (for `clipd doctor`).
    private(set) var lastProblem: String?

    init(loop: EventLoop, backoff: Backoff, workingAfter: TimeAmount? = nil, open: @escaping Opener,
         wanted: @escaping () -> Bool = { true }, failed: @escaping (_ reason: String, _ first: Bool) -> Void) {
        self.loop = loop
        self.backoff = backoff
        self.workingAfter = workingAfter
        self.open = open
        self.wanted = wanted
        self.failed = failed
    }

    var isConnected: Bool { current != nil }

    /// Opens the connection now unless it is open, being opened, waiting to retry, or not wanted.
    func connect() {
        loop.preconditionInEventLoop()
        guard !stopped, current == nil, !attempting, retry == nil, wanted() else { return }
        attempting = true
        openedAt = .now()
        let opened: EventLoopFuture<Channel>
        do {
            opened = try open()
        } catch {
            attempting = false
            attemptFailed("\(error)")
            return
        }
        // Every callback runs on `loop`, where the link lives.
        let this = NIOLoopBound(self, eventLoop: loop)
        opened.whenComplete { result in
            let link = this.value
            link.attempting = false
            switch result {
            case .success(let channel):
                guard !link.stopped else { return channel.close(promise: nil) }
                link.current = channel
                link.lastProblem = nil
                channel.closeFuture.whenComplete { _ in this.value.ended() }
            case .failure(let error):
                link.attemptFailed(Transport.shortError(error))
            }
        }
    }

    /// The connection worked (a session was established over it, or the peer reached us
    /// by itself): the next wait is short again, and a pending retry is dropped.
    func succeeded() {
        backoff.reset()
        failedSinceWorking = false
        retry?.cancel()
        retry = nil
    }

    /// Closes the connection and opens a new one at once (or tries at once when there is none).
    func reconnectNow() {
        backoff.reset()
        if let current {
            current.close(promise: nil)  // `ended` reopens it after the shortest wait
        } else {
            retry?.cancel()
            retry = nil
            connect()
        }
    }

    /// Stops for good; returns the open channel, if any, to close.
    func stop() -> Channel? {
        stopped = true
        retry?.cancel()
        retry = nil
        return current
    }

    private func attemptFailed(_ reason: String) {
        guard !stopped else { return }
        lastProblem = reason
        failed(reason, !failedSinceWorking)
        failedSinceWorking = true
        scheduleRetry()
    }

    /// The connection closed: the other end went away or restarted, or its session ended.
    private func ended() {
        current = nil
        guard !stopped else { return }
        if let workingAfter, NIODeadline.now() - openedAt >= workingAfter {
            backoff.reset()
            failedSinceWorking = false
        }
        scheduleRetry()
    }

    private func scheduleRetry() {
        retry?.cancel()
        retry = nil
        guard wanted() else { return }
        let this = NIOLoopBound(self, eventLoop: loop)
        retry = loop.scheduleTask(in: .nanoseconds(backoff.next().nanoseconds)) {
            this.value.retry = nil
            this.value.connect()
        }
    }
}
