import ClipSync
import Foundation
import NIOCore

/// What a control client's connection needs of the daemon: someone to answer its
/// requests. It reaches the daemon through this alone.
///
/// Called on the daemon's event loop only.
protocol ControlRequestHandler: AnyObject, Sendable {
    /// Why a request's payload of `length` bytes is refused before it is read, if it is.
    func refusePayload(_ request: ControlRequest, length: UInt64) -> String?
    /// Answers a request (now, or later through `client`).
    func handleControl(_ request: ControlRequest, payload: [UInt8], from client: ControlConnection)
    /// The client went away: what it waited for is dropped.
    func controlClosed(_ client: ControlConnection)
}

/// One client of the control socket (`clipd send`, `recv`, `pair`, ...). Parses request
/// frames, refuses oversized items before reading them, and writes responses. Runs on the
/// daemon's event loop.
final class ControlConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private unowned let daemon: ControlRequestHandler
    private var buffer: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var pendingHeader: (request: ControlRequest, payloadLength: Int)?
    private var payload: [UInt8] = []
    private(set) var isClosed = false
    private var writableWaiters: [() -> Void] = []

    init(daemon: ControlRequestHandler) { self.daemon = daemon }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The channel is gone: the context (which holds this handler) is let go, or the two
    /// would keep each other, and what they hold, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        buffer = nil
        payload = []
        pendingHeader = nil
        writableWaiters = []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        parse()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        buffer = nil
        daemon.controlClosed(self)
        runWritableWaiters()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { runWritableWaiters() }
    }

    private func runWritableWaiters() {
        let waiters = writableWaiters
        writableWaiters = []
        for waiter in waiters { waiter() }
    }

    /// Whether the socket takes more now.
    var isWritable: Bool { !isClosed && (context?.channel.isWritable ?? false) }

    /// Runs `body` once the socket takes more (or has closed).
    func whenWritable(_ body: @escaping () -> Void) {
        if isWritable || isClosed { body() } else { writableWaiters.append(body) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    private func parse() {
        while var b = buffer {
            if pendingHeader == nil {
                let lengths: (headerLength: Int, payloadLength: UInt64)?
                do {
                    lengths = try ControlFraming.prefix(b.readableBytesView, maximumPayload: UInt64(Int.max))
                } catch {
                    refuse("malformed control message")
                    return
                }
                guard let (headerLength, payloadLength) = lengths else { return }
                guard b.readableBytes >= ControlFraming.prefixByteCount + Int(headerLength) else { return }
                b.moveReaderIndex(forwardBy: ControlFraming.prefixByteCount)
                let json = b.readBytes(length: Int(headerLength)) ?? []
                guard let request = try? ControlFraming.decodeHeader(ControlRequest.self, from: json) else {
                    refuse("malformed control message")
                    return
                }
                if let refusal = daemon.refusePayload(request, length: payloadLength) {
                    refuse(refusal)
                    return
                }
                pendingHeader = (request, Int(payloadLength))
                // The payload goes straight into the item's own buffer: one copy, one allocation.
                payload = LargeBuffer.reserve(capacity: Int(payloadLength))
            }
            guard let (request, payloadLength) = pendingHeader else { return }
            let take = min(payloadLength - payload.count, b.readableBytes)
            b.readWithUnsafeReadableBytes { raw in
                payload.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<take]))
                return take
            }
            buffer = b.readableBytes > 0 ? b : nil
            guard payload.count == payloadLength else { return }
            pendingHeader = nil
            let complete = payload
            payload = []
            daemon.handleControl(request, payload: complete, from: self)
        }
    }

    /// Answers with an error and closes without reading the rest (an oversized payload is
    /// never read; the client sees its send fail and reads this answer).
    private func refuse(_ message: String) {
        finish(.failure(message))
        buffer = nil
        isClosed = true
        context?.close(promise: nil)
    }

    /// Sends a response (or stream event).
    func reply(_ response: ControlResponse, payload: [UInt8] = []) {
        guard !isClosed, let context else { return }
        let bytes = ControlFraming.encode(response, payload: payload)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    /// Writes one piece of a streamed payload (an empty one ends the pieces).
    func writePiece(_ bytes: ArraySlice<UInt8>) {
        guard !isClosed, let context else { return }
        var out = context.channel.allocator.buffer(capacity: 4 + bytes.count)
        out.writeInteger(UInt32(bytes.count))
        out.writeBytes(bytes)
        if bytes.isEmpty { context.writeAndFlush(wrapOutboundOut(out), promise: nil) } else { context.write(wrapOutboundOut(out), promise: nil) }
    }

    func flush() { context?.flush() }

    /// Sends the final response of a request. The client closes the socket when it has it.
    func finish(_ response: ControlResponse, payload: [UInt8] = []) {
        var last = response
        last.done = true
        reply(last, payload: payload)
    }
}
