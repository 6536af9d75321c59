import Foundation
import NIOCore
import NIOPosix

/// Peers over TCP: listening for them and dialling them, with keep-alive and a limit on
/// unacknowledged data so a vanished peer is noticed.
enum TCPTransport {
    /// Binds a socket accepting peers on `address`; returns it and the address it is bound
    /// to. Throws a one-line error when the address is taken or invalid.
    static func listen(on address: HostPort, group: EventLoopGroup, handler: @escaping HandlerFactory) async throws -> (Channel, String) {
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelInitializer(Transport.acceptBackoff)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_keepalive), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: Transport.writeWaterMark)
                .childChannelOption(.recvAllocator, value: Transport.receiveAllocator)
                .childChannelInitializer { channel in
                    configureKeepalive(channel)
                    return Transport.install(handler)(channel)
                }
                .bind(host: address.host, port: address.port).get()
        } catch {
            throw DaemonError("cannot listen on \(address): \(error)")
        }
        return (channel, channel.localAddress.map { describe($0) } ?? address.description)
    }

    /// Connects to `address` (giving up after 5 s).
    static func dial(_ address: HostPort, group: EventLoopGroup, handler: @escaping HandlerFactory) -> EventLoopFuture<Channel> {
        ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelOption(.writeBufferWaterMark, value: Transport.writeWaterMark)
            .channelOption(.recvAllocator, value: Transport.receiveAllocator)
            .channelInitializer { channel in
                configureKeepalive(channel)
                return Transport.install(handler)(channel)
            }
            .connect(host: address.host, port: address.port)
    }

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
        try? sync.setOption(ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: tcpUserTimeout)),
                            value: unacknowledgedDataLimitMilliseconds)
        try? sync.setOption(.socketOption(.tcp_nodelay), value: 1)
    }

    /// "192.0.2.1:7439", "[::1]:7439".
    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
