import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Unix sockets: QEMU's chardev sockets (connected to, or listened on for QEMU to connect)
/// and the control socket. Sockets this daemon creates are its user's alone (mode 0600).
enum UnixSocketTransport {
    /// Connects to the socket at `path`.
    static func connect(to path: String, group: EventLoopGroup, handler: @escaping HandlerFactory) -> EventLoopFuture<Channel> {
        ClientBootstrap(group: group)
            .channelOption(.writeBufferWaterMark, value: Transport.writeWaterMark)
            .channelOption(.recvAllocator, value: Transport.receiveAllocator)
            .channelInitializer(Transport.install(handler))
            .connect(unixDomainSocketPath: path)
    }

    /// Listens at `path`, replacing a stale socket left there (never another kind of file).
    /// Throws the bootstrap's error.
    static func listen(at path: String, group: EventLoopGroup, handler: @escaping HandlerFactory) async throws -> Channel {
        var status = stat()
        if lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let previous = umask(0o077)
        defer { umask(previous) }
        return try await ServerBootstrap(group: group)
            .serverChannelInitializer(Transport.acceptBackoff)
            .childChannelOption(.writeBufferWaterMark, value: Transport.writeWaterMark)
            .childChannelOption(.recvAllocator, value: Transport.receiveAllocator)
            .childChannelInitializer(Transport.install(handler))
            .bind(unixDomainSocketPath: path).get()
    }
}
