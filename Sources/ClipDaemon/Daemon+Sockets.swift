import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's sockets: the control socket, listeners for peers, and the options every
/// peer connection gets (buffers, keep-alive).
extension Daemon {
    /// Binds a socket accepting peers on `address` (HOST:PORT); returns it and the address
    /// it is bound to. Throws a one-line error when the address is taken or invalid.
    func bindListener(_ address: String) async throws -> (Channel, String) {
        let hostPort = try HostPort(parsing: address)
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelInitializer(Self.acceptBackoff)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_keepalive), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
                .childChannelOption(.recvAllocator, value: Self.receiveAllocator)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        Self.configureKeepalive(channel)
                        let remote = channel.remoteAddress.map { "\($0)" } ?? "?"
                        try channel.pipeline.syncOperations.addConnection(PeerConnection(owner: self, role: .responder, remote: remote))
                    }
                }
                .bind(host: hostPort.host, port: hostPort.port).get()
        } catch {
            throw DaemonError("cannot listen on \(hostPort): \(error)")
        }
        return (channel, channel.localAddress.map { Self.describe($0) } ?? hostPort.description)
    }

    func bindControlSocket() async throws {
        let path = paths.controlSocket
        if FileManager.default.fileExists(atPath: path) {
            if ControlClient.isDaemonListening(at: path) {
                throw DaemonError("a clipd daemon is already running (control socket \(path)); stop it or use another --home")
            }
            unlink(path)
        }
        let previous = umask(0o077)
        defer { umask(previous) }
        do {
            controlChannel = try await ServerBootstrap(group: group)
                .serverChannelInitializer(Self.acceptBackoff)
                .childChannelOption(.recvAllocator, value: Self.receiveAllocator)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addConnection(ControlConnection(daemon: self))
                    }
                }
                .bind(unixDomainSocketPath: path).get()
        } catch {
            throw DaemonError("cannot create control socket \(path): \(error)")
        }
        chmod(path, 0o600)
    }

    /// Every listening socket waits a second before accepting again after an accept failed
    /// (EMFILE at the descriptor limit), instead of retrying in a busy loop: the classic
    /// bootstrap does not add NIO's back-off by itself.
    @Sendable static func acceptBackoff(_ channel: Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler(shouldForwardIOErrorCaught: false))
        }
    }

    /// Reads of up to 1 MiB: large items arrive in few system calls.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 1 << 20)

    /// TCP_USER_TIMEOUT (linux/tcp.h), which Glibc does not export.
    static let tcpUserTimeout: Int32 = 18
    /// How long sent bytes may go unacknowledged before the kernel ends the connection.
    static let unacknowledgedDataLimitMilliseconds = 30_000

    static func configureKeepalive(_ channel: Channel) {
        // An idle peer that died is noticed by the kernel's keep-alive probes: no timer in the
        // daemon at rest (a busy session has `SessionLiveness` too).
        guard let sync = channel.syncOptions else { return }
        try? sync.setOption(.socketOption(.so_keepalive), value: 1)
        try? sync.setOption(ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPIDLE)), value: 60)
        try? sync.setOption(ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPINTVL)), value: 10)
        try? sync.setOption(ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: TCP_KEEPCNT)), value: 3)
        // Bytes sent and not acknowledged for this long end the connection (and it is dialled
        // again), instead of TCP retrying for 15 minutes: a peer that vanished while it was
        // being sent to, or a path whose retransmissions backed off to minutes.
        try? sync.setOption(ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: Self.tcpUserTimeout)),
                            value: Self.unacknowledgedDataLimitMilliseconds)
        try? sync.setOption(.socketOption(.tcp_nodelay), value: 1)
    }

    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
