import NIOCore
import NIOPosix

/// What makes the handler of a new connection (on the daemon's loop, inside NIO's channel
/// initializer).
typealias HandlerFactory = @Sendable (Channel) throws -> ChannelHandler

/// Settings every transport's sockets share.
enum Transport {
    /// Reads of up to 1 MiB: large items arrive in few system calls.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 1 << 20)
    /// A connection stops taking writes past 4 MiB queued, and takes them again below 1 MiB.
    static let writeWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 1 << 20, high: 4 << 20)

    /// Every listening socket waits a second before accepting again after an accept failed
    /// (EMFILE at the descriptor limit), instead of retrying in a busy loop: the classic
    /// bootstrap does not add NIO's back-off by itself.
    @Sendable static func acceptBackoff(_ channel: Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler(shouldForwardIOErrorCaught: false))
        }
    }

    /// Puts `make`'s handler on a new connection, behind the back-pressure every connection has.
    static func install(_ make: @escaping HandlerFactory) -> @Sendable (Channel) -> EventLoopFuture<Void> {
        { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addConnection(make(channel)) } }
    }

    /// A connection error in one line ("connection refused", not NIO's full description).
    static func shortError(_ error: Error) -> String {
        if let io = error as? IOError { return io.description }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("connectTimeout") { return "connection timed out" }
        return text
    }
}
