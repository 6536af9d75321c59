import ClipCrypto
import ClipSync
import ClipVDAgent
import ClipWire
import Foundation
import Logging
import NIOCore

/// What a SPICE agent connection needs of the daemon: the engine's hub for its session,
/// the settings the bridge is made with, and the log. It reaches the daemon through this
/// alone.
///
/// Called on the daemon's event loop only.
protocol AgentConnectionOwner: AnyObject, SessionHost {
    var logger: Logger { get }
    var loop: EventLoop { get }
    /// This host's device id (a guest's device id derives from it and the channel).
    var hostDevice: DeviceID { get }
    /// The selections synced and the largest item, for the bridge.
    var agentLimits: (selections: Set<Selection>, maximumItemSize: UInt64) { get }
    /// The channel is up: one live connection per channel.
    func agentChannelOpened(_ connection: VDAgentConnection)
    func agentChannelClosed(_ connection: VDAgentConnection)
    /// The agent announced itself: its engine session opens.
    func agentSessionOpened(_ connection: VDAgentConnection)
    func agentSessionClosed(_ id: SessionID, connection: VDAgentConnection)
    /// A message from the guest for the engine.
    func received(_ message: SessionMessage, on id: SessionID)
}

/// The host end of one guest's SPICE agent port: a `VDAgentBridge` on the transport, its
/// outputs carried out against the channel and the daemon's engine. The guest's session
/// lives from the agent's announcement until the channel resets or closes.
///
/// Runs on the daemon's event loop, like all daemon state.
final class VDAgentConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private unowned let daemon: AgentConnectionOwner
    let bridge: VDAgentBridge
    /// The channel spec, for logs and status.
    let channelDescription: String
    private var context: ChannelHandlerContext?
    /// Set by the daemon while the guest's engine session is open.
    var sessionID: SessionID?
    /// Set while pulling the engine's stream, so a pull that readies it again does not recurse.
    private var pulling = false
    /// Bytes from the guest not yet handled: taken a message at a time while the channel
    /// takes writes (with a `BackPressureHandler` in front, nothing more is read meanwhile).
    private var input: ByteBuffer?
    /// Fires when the agent leaves a reset unanswered for `watchdogPeriod(after:)`.
    private var watchdog: Scheduled<Void>?
    /// When the channel attached, for `clipd doctor`.
    private(set) var attachedAt: NIODeadline?
    /// Completes when the last message written so far has reached the socket, or failed.
    private var lastWrite: EventLoopFuture<Void>?

    /// How long the agent gets to answer the `count`th reset in a row: 3 s, then doubling up
    /// to 24 s, so an agent that is not running costs a few bytes a minute and the resets
    /// waiting in a closed port's buffer stay few.
    static func watchdogPeriod(after count: Int) -> TimeAmount {
        .seconds(3 << min(max(count - 1, 0), 3))
    }

    /// Resets the agent left unanswered in a row (0 once it is ready).
    var resetsUnanswered: Int { bridge.resetsUnanswered }

    init(daemon: AgentConnectionOwner, channel: String) {
        self.daemon = daemon
        channelDescription = channel
        let limits = daemon.agentLimits
        bridge = VDAgentBridge(guestDevice: Self.guestDevice(host: daemon.hostDevice, channel: channel),
                               selections: limits.selections, maximumItemSize: limits.maximumItemSize,
                               wallMilliseconds: Daemon.wallMilliseconds)
    }

    /// The guest's device id: stable for the host and the channel, so a restarted daemon
    /// names the guest's items as before.
    static func guestDevice(host: DeviceID, channel: String) -> DeviceID {
        DeviceID(bytes: Array(SHA256.hash(Array("clipd vdagent guest v1".utf8) + host.bytes + Array(channel.utf8)).prefix(DeviceID.byteCount)))
    }

    /// Name of the guest in logs, `status` and `--wait` messages.
    var name: String { "SPICE agent on \(channelDescription)" }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The channel is gone: the context (which holds this handler) is let go, or the two
    /// would keep each other, and what they hold, alive.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        input = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        daemon.logger.info("SPICE agent channel attached", metadata: ["channel": "\(channelDescription)"])
        daemon.agentChannelOpened(self)
        attachedAt = .now()
        carryOut(bridge.attached())
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if input == nil || input!.readableBytes == 0 {
            input = buffer
        } else {
            input!.writeBuffer(&buffer)
        }
        takeInput()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { takeInput() }
        context.fireChannelWritabilityChanged()
    }

    /// Handles what the guest sent, one message at a time while the channel takes writes:
    /// each request's answer is written before the next request is looked at.
    private func takeInput() {
        while let context, context.channel.isWritable, var pending = input, pending.readableBytes > 0 {
            input = nil  // held by `pending` alone while the bridge reads it
            let (outputs, used) = pending.withUnsafeReadableBytes { bridge.received($0, maximumMessages: 1) }
            pending.moveReaderIndex(forwardBy: used)
            if pending.readableBytes > 0 { input = pending }
            carryOut(outputs)
            if used == 0 && outputs.isEmpty { break }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        input = nil
        watchdog?.cancel()
        watchdog = nil
        carryOut(bridge.detached())
        daemon.agentChannelClosed(self)
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        daemon.logger.notice("SPICE agent channel error; closing", metadata: ["channel": "\(channelDescription)", "error": "\(error)"])
        context.close(promise: nil)
    }

    /// Ends the connection (a newer one took its channel, or the daemon stops).
    func close(reason: String) {
        daemon.logger.notice("closing the SPICE agent channel: \(reason)", metadata: ["channel": "\(channelDescription)"])
        context?.close(promise: nil)
    }

    /// Completes once every message written so far is in the socket (or the channel
    /// failed): a stopping daemon waits for it, so it leaves no message half-written.
    func writesFinished() -> EventLoopFuture<Void> {
        guard let context, let lastWrite else { return daemon.loop.makeSucceededVoidFuture() }
        return lastWrite.flatMapErrorThrowing { _ in }.hop(to: context.eventLoop)
    }

    // MARK: The engine's side

    /// A message the engine sent on the guest's session.
    func send(_ message: SessionMessage) { carryOut(bridge.engineSent(message)) }

    /// The engine has bytes the bridge fetched: the bridge takes them all at once (it holds
    /// an item's bytes before it grabs the guest's clipboard).
    func streamReady() {
        guard let id = sessionID, !pulling else { return }
        pulling = true
        defer { pulling = false }
        while sessionID == id, let message = daemon.nextStreamMessage(on: id) { carryOut(bridge.engineSent(message)) }
    }

    /// The engine found the guest's session broken: the agent is asked to start over.
    func breakSession(reason: String) {
        daemon.logger.warning("resetting the SPICE agent channel: \(reason)", metadata: ["channel": "\(channelDescription)"])
        carryOut(bridge.attached())
    }

    /// Arms the watchdog while a reset waits for the agent's announcement.
    private func watchAnswer() {
        guard bridge.resetsUnanswered > 0 else {
            watchdog?.cancel()
            watchdog = nil
            return
        }
        guard watchdog == nil, let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleTask(in: Self.watchdogPeriod(after: bridge.resetsUnanswered)) {
            let connection = bound.value
            connection.watchdog = nil
            guard let context = connection.context else { return }
            // A port whose writes back up holds the earlier reset still: no second one.
            if context.channel.isWritable { connection.carryOut(connection.bridge.resetUnanswered()) } else { connection.watchAnswer() }
        }
    }

    private func carryOut(_ outputs: [VDAgentBridge.Output]) {
        defer { watchAnswer() }
        for output in outputs {
            switch output {
            case .toGuest(let bytes):
                guard let context else { continue }
                let written = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: written)
                lastWrite = written.futureResult
            case .openSession:
                daemon.agentSessionOpened(self)
            case .closeSession:
                if let id = sessionID { daemon.agentSessionClosed(id, connection: self) }
                sessionID = nil
            case .toEngine(let message):
                if let id = sessionID { daemon.received(message, on: id) }
            case .log(let level, let line):
                let logLevel: Logger.Level = switch level {
                case .debug: .debug
                case .info: .info
                case .notice: .notice
                case .warning: .warning
                }
                daemon.logger.log(level: logLevel, "\(line)", metadata: ["channel": "\(channelDescription)"])
            }
        }
    }
}
