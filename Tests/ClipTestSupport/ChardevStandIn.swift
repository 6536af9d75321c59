import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Stands in for QEMU's `-chardev socket,server=on` in front of a guest port when there is
/// no VM: the guest side (an agent that connects to `guestSocket`) stays attached for the
/// stand-in's life, while the host side (clipd with `unix:hostSocket`) may come and go, one
/// connection at a time. Nothing is read from the guest while no host is attached, as
/// QEMU's port stops taking the guest's writes.
///
/// A thread of its own polls the sockets; ended (and its sockets closed) by `stop()` or
/// when the harness ends.
public final class ChardevStandIn: @unchecked Sendable {
    public let guestSocket: String
    public let hostSocket: String
    private let guestListener: Int32
    private let hostListener: Int32
    private var wake: [Int32] = [-1, -1]
    /// Bytes written here reach the host as if the guest had sent them.
    private var injected: [Int32] = [-1, -1]
    private let thread: Thread
    private let finished = Flag()
    private let stopping = Flag()

    /// A flag set once, read from other threads.
    private final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        /// Sets it; true when it was not set before.
        func set() -> Bool {
            lock.lock()
            defer { lock.unlock() }
            defer { value = true }
            return !value
        }
        var isSet: Bool {
            lock.lock()
            defer { lock.unlock() }
            return value
        }
    }

    public init(harness: DaemonHarness, name: String) throws {
        guestSocket = harness.root + "/\(name)-guest.sock"
        hostSocket = harness.root + "/\(name)-host.sock"
        guestListener = try UnixSocket.listen(guestSocket)
        hostListener = try UnixSocket.listen(hostSocket)
        guard pipe(&wake) == 0, pipe(&injected) == 0 else { throw HarnessError("pipe failed") }
        let (guestListener, hostListener, wakeRead, injectedRead, finished) = (guestListener, hostListener, wake[0], injected[0], finished)
        thread = Thread {
            Self.run(guestListener: guestListener, hostListener: hostListener, wake: wakeRead, injected: injectedRead, finished: finished)
        }
        thread.start()
        harness.retain(self)
    }

    private static func run(guestListener: Int32, hostListener: Int32, wake: Int32, injected: Int32, finished: Flag) {
        var guest: Int32 = -1, host: Int32 = -1
        var buffer = [UInt8](repeating: 0, count: 65536)
        func forward(_ from: Int32, _ to: Int32) -> Bool {
            let count = read(from, &buffer, buffer.count)
            guard count > 0 else { return false }
            var sent = 0
            while sent < count {
                let n = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, count - sent) }
                if n <= 0 { return true }  // the other side went away: it is handled on its own poll
                sent += n
            }
            return true
        }
        while true {
            var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: guest < 0 ? guestListener : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: host < 0 ? hostListener : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: guest >= 0 && host >= 0 ? guest : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: host, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: host >= 0 ? injected : -1, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 || errno == EINTR else { break }
            if fds[0].revents != 0 { break }
            if fds[1].revents != 0 { guest = accept(guestListener, nil, nil) }
            if fds[2].revents != 0 { host = accept(hostListener, nil, nil) }
            if fds[3].revents != 0, !forward(guest, host) {
                close(guest)
                guest = -1
            }
            if fds[5].revents != 0 { _ = forward(injected, host) }
            if host >= 0, fds[4].revents != 0 {
                if guest < 0 || !forward(host, guest) {
                    close(host)  // the host detached; the guest stays
                    host = -1
                }
            }
        }
        for fd in [guest, host, guestListener, hostListener, wake, injected] where fd >= 0 { close(fd) }
        _ = finished.set()
    }

    /// Sends `bytes` to the attached host as if the guest had sent them, between two reads
    /// of the guest's own bytes.
    public func injectToHost(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(injected[1], $0.baseAddress, $0.count) }
    }

    /// Ends the thread and closes both sides.
    public func stop() {
        guard stopping.set() else { return }
        _ = write(wake[1], "x", 1)
        let deadline = Date().addingTimeInterval(2)
        while !finished.isSet && Date() < deadline { usleep(5_000) }
        close(wake[1])
        close(injected[1])
        unlink(guestSocket)
        unlink(hostSocket)
    }

    deinit { stop() }
}
