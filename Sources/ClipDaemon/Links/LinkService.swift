import ClipCrypto
import ClipWire
import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// What the links need of the rest of the daemon: owners for the connections they open,
/// the trust store (whom to dial, where), and whether a peer already has a session.
///
/// Called on the daemon's event loop only.
protocol LinkServiceHost: PeerConnectionOwner, AgentConnectionOwner, Sendable {
    var peers: PeerStore { get }
    /// The listeners and channels to open at start.
    var configuration: DaemonConfiguration { get }
    /// Whether a session with the peer is open.
    func hasSession(with id: DeviceID) -> Bool
}

/// The network and VM links, as one of the daemon's pieces: it opens the configured
/// listeners and channels, keeps a dialer per paired peer with an address, attaches and
/// detaches channels at run time (`passvm`), and stops them all. Owns the `LinkSet` and
/// the live connection of each SPICE agent channel; every connection it opens gets its
/// owner from `host`.
///
/// Sound as `@unchecked Sendable`: every member is touched on the daemon's event loop only
/// (the `async` calls bind off it and hand their links over with `loop.submit`); closures
/// carry the reference across NIO's `@Sendable` APIs to run there.
final class LinkService: DaemonPiece, @unchecked Sendable {
    let pieceName = "links"
    let set = LinkSet()
    /// The live connection of each SPICE agent channel, by its spec.
    private var agentConnections: [String: VDAgentConnection] = [:]
    private unowned let host: LinkServiceHost
    private let group: EventLoopGroup
    private let loop: EventLoop
    private let logger: Logger
    /// Where channels attached at run time are remembered across restarts.
    private let attachedChannelsFile: String
    private var stopped = false
    /// The channels the configuration names (the others were attached at run time).
    private var configured: Set<String> = []

    init(host: LinkServiceHost, group: EventLoopGroup, loop: EventLoop, logger: Logger, attachedChannelsFile: String) {
        self.host = host
        self.group = group
        self.loop = loop
        self.logger = logger
        self.attachedChannelsFile = attachedChannelsFile
    }

    private var peers: PeerStore { host.peers }

    /// Binds the configured listeners, opens the configured channels (and those `passvm`
    /// attached before a restart) and dials every paired peer with an address. Throws a
    /// one-line error when a listener or a channel's socket cannot be bound.
    func start() async throws {
        let configuration = try await loop.submit { [host] in host.configuration }.get()
        for address in configuration.listen {
            let listener = try await bindListener(address)
            try await loop.submit { [self] in set.add(listener) }.get()
            logger.info("listening", metadata: ["address": "\(listener.bound)"])
        }
        try await startChannels(virtio: configuration.virtio, vdagent: configuration.vdagent)
        try await loop.submit { [self] in
            for peer in peers.peers where !peer.addresses.isEmpty { ensureDialer(peer.deviceID) }
        }.get()
    }

    /// How long a stopping daemon waits for a guest's agent to take the message under way.
    static let agentWriteGrace = TimeAmount.seconds(2)

    /// Closes every link. A message under way to a guest's SPICE agent is finished first
    /// (for up to `agentWriteGrace`): an agent holds a half-received message and would take
    /// the next host's first message as its rest.
    func stop() async {
        _ = try? await loop.flatSubmit { [self] () -> EventLoopFuture<Void> in
            let writes = agentConnections.values.map { $0.writesFinished() }
            guard !writes.isEmpty else { return loop.makeSucceededVoidFuture() }
            // Whichever comes first: every write done, or the grace period over.
            let done = loop.makePromise(of: Void.self)
            let finished = NIOLoopBoundBox(false, eventLoop: loop)
            let finish: @Sendable () -> Void = {
                if !finished.value {
                    finished.value = true
                    done.succeed()
                }
            }
            let limit = loop.scheduleTask(in: Self.agentWriteGrace) { finish() }
            EventLoopFuture.whenAllComplete(writes, on: loop).whenComplete { _ in
                limit.cancel()
                finish()
            }
            return done.futureResult
        }.get()
        let channels = (try? await loop.submit { [self] () -> [Channel] in
            stopped = true
            return set.stopAll()
        }.get()) ?? []
        for channel in channels { try? await channel.close() }
    }

    // MARK: SPICE agents' connections

    /// One agent per channel: a second connection on a listening socket (the agent or
    /// QEMU came back before the first connection was seen to close) replaces the first,
    /// so the guest keeps one session and one device id.
    func agentChannelOpened(_ connection: VDAgentConnection) {
        loop.preconditionInEventLoop()
        if let older = agentConnections[connection.channelDescription], older !== connection {
            older.close(reason: "replaced by a newer connection on the same channel")
        }
        agentConnections[connection.channelDescription] = connection
    }

    func agentChannelClosed(_ connection: VDAgentConnection) {
        loop.preconditionInEventLoop()
        if agentConnections[connection.channelDescription] === connection { agentConnections[connection.channelDescription] = nil }
    }

    /// The live connection on an agent channel, if any.
    func agentConnection(on channel: String) -> VDAgentConnection? { agentConnections[channel] }

    // MARK: Listeners

    /// Binds a socket accepting peers on `address` (HOST:PORT); returns its link, not yet
    /// added. Throws a one-line error when the address is taken or invalid.
    func bindListener(_ address: String) async throws -> ListenerLink {
        let (channel, bound) = try await TCPTransport.listen(on: try HostPort(parsing: address), group: group) { [host] channel in
            PeerConnection(owner: host, role: .responder, remote: channel.remoteAddress.map { "\($0)" } ?? "?")
        }
        return ListenerLink(key: .listener(address), channel: channel, bound: bound)
    }

    // MARK: Dialers

    /// Dials a peer now unless it has a session, a dial under way or waiting, or no
    /// network address.
    func ensureDialer(_ id: DeviceID) {
        loop.preconditionInEventLoop()
        // Only network addresses are dialled; a host reached over this guest's VM channel
        // is attached by the channel's link instead.
        guard !stopped, peers.peer(id: id)?.dialAddress != nil else { return }
        let dialer = set.dialer(id) ?? addDialer(for: id)
        dialer.connection.connect()
    }

    private func addDialer(for id: DeviceID) -> PeerDialer {
        let connection = ReconnectingLink(
            loop: loop, backoff: PeerDialer.backoff,
            open: { [unowned self] in try dial(id) },
            wanted: { [unowned self] in peers.peer(id: id) != nil && !host.hasSession(with: id) },
            failed: { [unowned self] reason, _ in
                logger.debug("cannot reach peer", metadata: ["peer": "\(peers.peer(id: id)?.name ?? "\(id.short)")", "error": "\(reason)"])
            })
        let dialer = PeerDialer(peer: id, connection: connection)
        set.add(dialer)
        return dialer
    }

    private func dial(_ id: DeviceID) throws -> EventLoopFuture<Channel> {
        guard let peer = peers.peer(id: id), let address = peer.dialAddress else { throw DaemonError("no network address") }
        let target: HostPort
        do {
            target = try HostPort(parsing: address)
        } catch {
            logger.error("peer has an invalid address", metadata: ["peer": "\(peer.name)", "address": "\(address)"])
            throw error
        }
        return TCPTransport.dial(target, group: group) { [host] _ in PeerConnection(owner: host, role: .initiator(peer), remote: target.description) }
    }

    /// The peer refused our handshake (wrong or stale PSK): after a few refusals tell the
    /// user what to do.
    func handshakeRejected(by peer: StoredPeer) {
        guard let dialer = set.dialer(peer.deviceID) else { return }
        dialer.rejections += 1
        if dialer.rejections == 3 {
            logger.error("peer keeps rejecting this device's handshake: the pairing is stale; run `clipd pair` on \(peer.name) and `clipd pair CODE ADDRESS` here", metadata: ["peer": "\(peer.name)"])
        }
    }

    // MARK: Channels

    /// Opens every configured VM channel: host ends connect or listen, a guest end opens
    /// its port. Failures to reach the other end are retried, not thrown; a listening
    /// socket that cannot be bound is an error.
    func startChannels(virtio: [VirtioChannel], vdagent: [VirtioChannel]) async throws {
        try await loop.submit { [self] in configure(virtio: virtio, vdagent: vdagent) }.get()
        let channels = virtio.map { ($0, ChannelKind.clipd) } + vdagent.map { ($0, ChannelKind.spiceAgent) }
        for (channel, kind) in channels {
            switch channel {
            case .hostListen(let path):
                try await listenForQEMU(path: path, kind: kind)
            case .hostConnect, .guestDevice:
                try await loop.submit { [self] in _ = addChannelLink(channel, kind: kind) }.get()
            }
            logger.info("\(kind.label)", metadata: ["channel": "\(channel)", "end": "\(channel.isGuest && kind == .clipd ? "guest" : "host")"])
        }
        // Channels `passvm run` attached before a restart, while their VMs still run.
        try await loop.submit { [self] in
            for (spec, kind) in attachedChannels() {
                guard case .hostConnect(let path)? = try? VirtioChannel(parsing: spec), FileManager.default.fileExists(atPath: path) else { continue }
                _ = try? attachChannel(spec, kind: kind)
            }
            saveAttachedChannels()
        }.get()
    }

    /// The channels recorded by `saveAttachedChannels`: one spec a line, agents' prefixed
    /// with "vdagent ".
    private func attachedChannels() -> [(String, ChannelKind)] {
        ((try? String(contentsOfFile: attachedChannelsFile, encoding: .utf8)) ?? "").split(separator: "\n").map { line in
            line.hasPrefix(Self.agentLinePrefix) ? (String(line.dropFirst(Self.agentLinePrefix.count)), .spiceAgent) : (String(line), .clipd)
        }
    }

    private static let agentLinePrefix = "vdagent "

    /// The channels the configuration names now (at start, and after a reload).
    func configure(virtio: [VirtioChannel], vdagent: [VirtioChannel]) {
        configured = Set(virtio.map { "\($0)" } + vdagent.map { Self.agentLinePrefix + "\($0)" })
    }

    /// Records the channels attached at run time (not those from the configuration).
    func saveAttachedChannels() {
        let specs = set.channels.map { ($0.kind == .spiceAgent ? Self.agentLinePrefix : "") + "\($0.channel)" }
            .filter { !configured.contains($0) }
        if specs.isEmpty {
            unlink(attachedChannelsFile)
        } else {
            try? PrivateFiles.writeAtomically(attachedChannelsFile, contents: Array((specs.joined(separator: "\n") + "\n").utf8))
        }
    }

    private func listenForQEMU(path: String, kind: ChannelKind) async throws {
        let spec = "unix-listen:\(path)"
        do {
            let channel = try await UnixSocketTransport.listen(at: path, group: group) { [self] _ in hostHandler(kind, channel: spec) }
            try await loop.submit { [self] in set.add(ListenerLink(key: .channel(.hostListen(path: path), kind), channel: channel, bound: spec)) }.get()
        } catch {
            throw DaemonError("cannot listen for QEMU on \(path): \(error)")
        }
    }

    static func newAttachID() -> [UInt8] {
        SecureRandom.bytes(8)
    }

    /// The connection for the host end of a channel of `kind`.
    private func hostHandler(_ kind: ChannelKind, channel: String) -> ChannelHandler {
        switch kind {
        case .clipd: PeerConnection(owner: host, role: .channelHost(attachID: Self.newAttachID()), remote: "virtio \(channel)")
        case .spiceAgent: VDAgentConnection(daemon: host, channel: channel)
        }
    }

    /// Keeps `channel` attached from now on, with the reconnect policy.
    @discardableResult
    func addChannelLink(_ channel: VirtioChannel, kind: ChannelKind) -> ChannelLink {
        loop.preconditionInEventLoop()
        let connection = ReconnectingLink(
            loop: loop, backoff: ChannelLink.backoff, workingAfter: ChannelLink.workingAttach,
            open: { [unowned self] in try openChannel(channel, kind: kind) },
            failed: { [unowned self] reason, first in
                if first { logger.notice("VM channel not attached; retrying", metadata: ["channel": "\(channel)", "reason": "\(reason)"]) }
            })
        let link = ChannelLink(channel: channel, kind: kind, connection: connection)
        set.add(link)
        if !stopped { connection.connect() }
        return link
    }

    /// Opens the transport of a channel this daemon keeps attached, with its connection on it.
    private func openChannel(_ channel: VirtioChannel, kind: ChannelKind) throws -> EventLoopFuture<Channel> {
        let spec = channel.description
        switch channel {
        case .hostConnect(let path):
            return UnixSocketTransport.connect(to: path, group: group) { [self] _ in hostHandler(kind, channel: spec) }
        case .guestDevice(let path):
            // A device for an agent is the host's end of its port (a pty, say).
            return try PortDeviceTransport.open(path, group: group) { [self] _ in
                kind == .clipd ? PeerConnection(owner: host, role: .channelGuest, remote: "virtio \(spec)") as ChannelHandler : VDAgentConnection(daemon: host, channel: spec)
            }
        case .hostListen:
            throw DaemonError("a listening channel is not opened")
        }
    }

    /// Whether guests can reach this daemon over a VM channel (and so pair with it).
    var hasHostChannels: Bool { !set.channelListeners(.clipd).isEmpty || set.channels(.clipd).contains { !$0.channel.isGuest } }

    /// Adds a host channel while running (`passvm run` when its VM starts).
    func attachChannel(_ text: String, kind: ChannelKind) throws -> ControlResponse {
        let channel = try VirtioChannel(parsing: text, option: kind.option)
        guard case .hostConnect = channel else { throw DaemonError("only unix:PATH channels can be attached at run time") }
        let what = kind == .clipd ? "" : "\(kind.label) "
        var response = ControlResponse(ok: true)
        if set.contains(.channel(channel, kind)) {
            response.lines = ["already attached to \(what)\(channel)"]
            return response
        }
        addChannelLink(channel, kind: kind)
        saveAttachedChannels()
        logger.info("\(kind.label)", metadata: ["channel": "\(channel)", "end": "host"])
        response.lines = ["attached to \(what)\(channel)"]
        return response
    }

    /// Drops a channel attached at run time (`passvm run` when its VM stops).
    func detachChannel(_ text: String, kind: ChannelKind) throws -> ControlResponse {
        let channel = try VirtioChannel(parsing: text, option: kind.option)
        guard set.link(.channel(channel, kind)) is ChannelLink else { throw DaemonError("no \(kind.label) \(channel) is attached") }
        set.remove(.channel(channel, kind))
        saveAttachedChannels()
        var response = ControlResponse(ok: true)
        response.lines = ["detached from \(channel)"]
        return response
    }
}
