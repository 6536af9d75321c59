import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One QEMU guest at a time in the whole test run: a guest under TCG takes a core for
/// itself, and two side by side on a 2-core machine made each other miss their time
/// limits (a flake seen in CI). The turn is an exclusive `flock` on a file in /tmp, so it
/// holds across test processes too, and the kernel gives it back if a process dies.
/// Waiting is bounded, like everything else a test does.
final class GuestSlot {
    static let path = "/tmp/clipd-test-guest.lock"
    /// Longest wait for a turn: longer than any one guest test runs.
    static let longestWait: TimeInterval = 15 * 60

    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Waits for the turn; throws when it does not come within `longestWait`.
    static func acquire() throws -> GuestSlot {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw HarnessError("cannot open \(path): \(String(cString: strerror(errno)))") }
        let deadline = Date().addingTimeInterval(longestWait)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, Date() < deadline else {
                close(fd)
                throw HarnessError("no turn for a QEMU guest within \(Int(longestWait)) s: another guest kept \(path)")
            }
            usleep(50_000)
        }
        return GuestSlot(fd: fd)
    }

    deinit { close(fd) }  // closing the descriptor gives the turn back
}
