import ClipSync
import Foundation
import NIOCore

/// One client of the control socket (`clipd send`, `recv`, `pair`, ...). Parses request
/// frames, refuses oversized items before reading them, and writes responses. Runs on the
/// daemon's event loop.
final class ControlConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private unowned let daemon: Daemon
    private var buffer: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var pendingHeader: (request: ControlRequest, payloadLength: Int)?
    private var payload: [UInt8] = []
    private(set) var isClosed = false

    init(daemon: Daemon) { self.daemon = daemon }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        parse()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        buffer = nil
        daemon.controlClosed(self)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    private func parse() {
        while var b = buffer {
            if pendingHeader == nil {
                guard b.readableBytes >= ControlFraming.prefixByteCount,
                      let headerLength = b.getInteger(at: b.readerIndex, as: UInt32.self),
                      let payloadLength = b.getInteger(at: b.readerIndex + 4, as: UInt64.self)
                else { return }
                guard headerLength <= ControlFraming.maximumHeaderLength, payloadLength <= UInt64(Int.max) else {
                    refuse("malformed control message")
                    return
                }
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

    /// Sends the final response of a request. The client closes the socket when it has it.
    func finish(_ response: ControlResponse, payload: [UInt8] = []) {
        var last = response
        last.done = true
        reply(last, payload: payload)
    }
}
