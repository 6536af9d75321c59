import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A character device carrying a channel: a guest's virtio port
/// (`/dev/virtio-ports/org.clipd.0`), or the host's end of a port QEMU gives as a pty.
enum PortDeviceTransport {
    /// Opens the device once (reads and writes share the descriptor; NIO duplicates it,
    /// which keeps the single open). A terminal is made raw first. Throws a one-line error
    /// when the device cannot be opened.
    static func open(_ path: String, group: EventLoopGroup, handler: @escaping HandlerFactory) throws -> EventLoopFuture<Channel> {
        let fd = Glibc.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw DaemonError("cannot open \(path): \(String(cString: strerror(errno)))") }
        // A terminal (QEMU's `-chardev pty`) carries bytes, not lines: no echo, no CR/LF
        // translation, no signals.
        if isatty(fd) != 0 {
            var settings = termios()
            tcgetattr(fd, &settings)
            cfmakeraw(&settings)
            tcsetattr(fd, TCSANOW, &settings)
        }
        return NIOPipeBootstrap(group: group)
            .channelOption(.recvAllocator, value: Transport.receiveAllocator)
            .channelInitializer(Transport.install(handler))
            .takingOwnershipOfDescriptor(inputOutput: fd)
    }
}
