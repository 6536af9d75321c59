import ClipControl
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Holds the host end of one guest's SPICE agent port for the VM's life: it stays connected
/// to QEMU's chardev socket whatever the user's clipd does, and serves one clipd daemon at a
/// time on a socket of its own, with an `AgentPortRelay` between them.
///
/// QEMU is reached at `qemuSocket` (QEMU's `-chardev socket,...,server=on`; with
/// `wait=on` QEMU does not start the guest until the holder is there). While QEMU is away
/// the holder reconnects within 20 ms to 1 s, and turns daemons away. Tell it what QMP says
/// of the guest's port with `post(.guestPort(open:))`.
///
/// Sound as `@unchecked Sendable`: `run()` blocks the thread that calls it until
/// `post(.stop)`, and it alone touches the relay, the descriptors and the queues. `post` may
/// be called from any thread: the posted events are guarded by `lock` and the loop is woken
/// through a pipe.
public final class AgentPortHolder: @unchecked Sendable {
    public enum Event: Sendable {
        /// QEMU's VSERPORT_CHANGE for this port.
        case guestPort(open: Bool)
        case stop
    }

    public let qemuSocket: String
    public let listenPath: String
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var posted: [Event] = []
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Bytes queued toward one side before the holder stops reading the other.
    static let highWater = 4 << 20

    private var relay: AgentPortRelay
    private var listener: Int32 = -1
    private var qemu: Int32 = -1
    private var daemon: Int32 = -1
    private var toGuest = OutputQueue()
    private var toDaemon = OutputQueue()
    private var nextAttempt = DispatchTime.now()
    private var retryDelay = 0.02
    private var toldWaiting = false
    private var stopping = false
    /// Where every read lands before it is handed on.
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    /// What a newly started QEMU's port is taken to be.
    private let initialGuestPort: AgentPortRelay.GuestPort
    /// The next connection to QEMU is the holder's own purge, not a new QEMU.
    private var purging = false

    /// Listens on `listenPath` at once (so a daemon may be pointed at it before QEMU runs);
    /// throws when it cannot. `guestPortStartsClosed`: QEMU is started fresh alongside the
    /// holder and QMP's VSERPORT_CHANGE will be posted (`passvm run`), so nothing is passed
    /// to the guest before its agent opens the port.
    public init(qemuSocket: String, listenPath: String, maximumMessage: Int = 1 << 30, guestPortStartsClosed: Bool = false,
                log: @escaping @Sendable (String) -> Void) throws {
        self.qemuSocket = qemuSocket
        self.listenPath = listenPath
        self.log = log
        initialGuestPort = guestPortStartsClosed ? .closed : .open
        relay = AgentPortRelay(maximumMessage: maximumMessage, guestPort: initialGuestPort)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw HolderError("pipe: \(errnoText())") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        for fd in fds { UnixStream.setNonBlocking(fd) }
        switch UnixStream.listen(listenPath) {
        case .success(let fd): listener = fd
        case .failure(let error):
            close(wakeRead)
            close(wakeWrite)
            throw error
        }
    }

    deinit {
        for fd in [wakeRead, wakeWrite, listener, qemu, daemon] where fd >= 0 { close(fd) }
    }

    /// Hands the loop an event; any thread.
    public func post(_ event: Event) {
        lock.lock()
        posted.append(event)
        lock.unlock()
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Serves until `post(.stop)`; then closes everything and removes the listening socket.
    public func run() {
        while !stopping {
            if qemu < 0 && DispatchTime.now() >= nextAttempt { connectQEMU() }
            pollOnce()
        }
        closeDaemon()
        if qemu >= 0 { close(qemu) }
        qemu = -1
        close(listener)
        listener = -1
        unlink(listenPath)
    }

    // MARK: The loop

    private func pollOnce() {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        if qemu >= 0 {
            var events = Int16(POLLIN)
            if daemon >= 0 && toDaemon.count >= Self.highWater { events = 0 }
            if !toGuest.isEmpty { events |= Int16(POLLOUT) }
            fds.append(pollfd(fd: qemu, events: events, revents: 0))
        }
        if daemon >= 0 {
            var events = toGuest.count < Self.highWater ? Int16(POLLIN) : 0
            if !toDaemon.isEmpty { events |= Int16(POLLOUT) }
            fds.append(pollfd(fd: daemon, events: events, revents: 0))
        }
        var timeout: Int32 = -1
        if qemu < 0 {
            let wait = nextAttempt.uptimeNanoseconds > DispatchTime.now().uptimeNanoseconds ? nextAttempt.uptimeNanoseconds - DispatchTime.now().uptimeNanoseconds : 0
            timeout = Int32(wait / 1_000_000) + 1
        }
        guard poll(&fds, nfds_t(fds.count), timeout) > 0 else { return }
        // Each descriptor's events, looked up by descriptor: an earlier handler may close one.
        let ready = Dictionary(fds.map { ($0.fd, $0.revents) }, uniquingKeysWith: { $1 })
        if ready[wakeRead, default: 0] != 0 { takePosted() }
        if ready[listener, default: 0] & Int16(POLLIN) != 0 { acceptDaemon() }
        if qemu >= 0, let events = ready[qemu], events != 0 { serviceQEMU(events) }
        if daemon >= 0, let events = ready[daemon], events != 0 { serviceDaemon(events) }
    }

    private func takePosted() {
        var drain = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &drain, drain.count) > 0 {}
        lock.lock()
        let events = posted
        posted = []
        lock.unlock()
        for event in events {
            switch event {
            case .stop: stopping = true
            case .guestPort(let open): carryOut(relay.guestPortChanged(open: open))
            }
        }
    }

    private func connectQEMU() {
        switch UnixStream.connect(qemuSocket) {
        case .success(let fd):
            qemu = fd
            retryDelay = 0.02
            toldWaiting = false
            if purging {
                purging = false
                relay.guestConnectionRestarted()
            } else {
                relay.guestConnectionRestarted(guestPort: initialGuestPort)
                log("holding the SPICE agent port: connected to QEMU at \(qemuSocket)")
            }
        case .failure(let error):
            if !toldWaiting {
                toldWaiting = true
                log("waiting for QEMU's agent port socket \(qemuSocket) (\(error))")
            }
            nextAttempt = DispatchTime.now() + retryDelay
            retryDelay = min(retryDelay * 2, 1)
        }
    }

    private func acceptDaemon() {
        while let fd = UnixStream.accept(listener) {
            guard qemu >= 0 else {
                close(fd)
                log("turned a clipd connection away: QEMU's agent port is not there yet")
                continue
            }
            if daemon >= 0 {
                log("a newer clipd connection replaces the older one")
                closeDaemon()
            }
            daemon = fd
            log("clipd attached")
            carryOut(relay.daemonConnected())
        }
    }

    private func serviceQEMU(_ events: Int16) {
        if events & Int16(POLLOUT) != 0, !toGuest.write(to: qemu) { return qemuGone("writing: \(errnoText())") }
        guard events & Int16(POLLIN | POLLHUP | POLLERR) != 0 else { return }
        switch readSome(qemu) {
        case .bytes(let bytes): carryOut(relay.guestSent(bytes))
        case .again: break
        case .ended(let reason): qemuGone(reason)
        }
    }

    private func serviceDaemon(_ events: Int16) {
        if events & Int16(POLLOUT) != 0, !toDaemon.write(to: daemon) {
            log("clipd detached (\(errnoText()))")
            closeDaemon()
            return
        }
        guard events & Int16(POLLIN | POLLHUP | POLLERR) != 0 else { return }
        switch readSome(daemon) {
        case .bytes(let bytes): carryOut(relay.daemonSent(bytes[...]))
        case .again: break
        case .ended(let reason):
            log("clipd detached (\(reason))")
            closeDaemon()
        }
    }

    /// QEMU closed the socket (the VM stopped or restarts): the daemon is let go, and the
    /// holder waits for QEMU again.
    private func qemuGone(_ reason: String) {
        log("QEMU closed the agent port's socket (\(reason)); waiting for it again")
        close(qemu)
        qemu = -1
        toGuest.clear()
        closeDaemon()
        nextAttempt = DispatchTime.now()
    }

    /// Ends the daemon's connection. The relay hears of it (and drops what the daemon left
    /// half-written) unless it is the one that let the daemon go.
    private func closeDaemon(relayKnows: Bool = false) {
        guard daemon >= 0 else { return }
        close(daemon)
        daemon = -1
        toDaemon.clear()
        if !relayKnows { carryOut(relay.daemonDisconnected()) }
    }

    private func carryOut(_ outputs: [AgentPortRelay.Output]) {
        for output in outputs {
            switch output {
            case .toGuest(let bytes):
                if qemu >= 0 { toGuest.append(bytes) }
            case .toDaemon(let bytes):
                if daemon >= 0 { toDaemon.append(bytes) }
            case .dropDaemon(let reason):
                log("let clipd go: \(reason)")
                closeDaemon(relayKnows: true)
            case .purgeGuest:
                // Bytes in the socket that QEMU has not read would reach the next agent:
                // a new connection leaves them behind with the old one.
                toGuest.clear()
                if qemu >= 0 {
                    close(qemu)
                    qemu = -1
                    purging = true
                    nextAttempt = DispatchTime.now()
                    connectQEMU()
                }
            case .log(let line):
                log(line)
            }
        }
    }

    private enum ReadResult {
        case bytes([UInt8])
        case again
        case ended(String)
    }

    /// Reads into the one buffer the loop keeps; the bytes returned are a copy of what came.
    private func readSome(_ fd: Int32) -> ReadResult {
        let count = read(fd, &readBuffer, readBuffer.count)
        if count > 0 { return .bytes(Array(readBuffer[0..<count])) }
        if count == 0 { return .ended("end of file") }
        if errno == EAGAIN || errno == EINTR { return .again }
        return .ended(errnoText())
    }
}

/// Bytes waiting for a non-blocking descriptor to take them.
struct OutputQueue {
    private var bytes: [UInt8] = []
    private var offset = 0

    var count: Int { bytes.count - offset }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ more: [UInt8]) {
        if offset > 0 && offset >= bytes.count / 2 {
            bytes.removeFirst(offset)
            offset = 0
        }
        bytes += more
    }

    mutating func clear() {
        bytes = []
        offset = 0
    }

    /// Writes what the socket takes now; false on an error other than a full buffer (a
    /// closed peer is an error, not a SIGPIPE).
    mutating func write(to fd: Int32) -> Bool {
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                return true
            } else {
                return false
            }
        }
        clear()
        return true
    }
}
