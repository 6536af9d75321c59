import ClipCrypto
import ClipWire
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// What speaks on a VM channel: clipd's own protocol (a `PeerConnection`), or the SPICE
/// agent protocol for a guest's stock agent (a `VDAgentConnection`).
enum ChannelKind: Sendable, Equatable {
    case clipd
    case spiceAgent

    /// The option that configures it, for messages.
    var option: String { self == .clipd ? "--virtio" : "--vdagent" }
    /// What a channel of this kind is called in logs and answers.
    var label: String { self == .clipd ? "VM channel" : "SPICE agent channel" }
}

/// One end of a VM channel this daemon keeps attached: it (re)opens the transport and
/// puts a connection of its kind on it each time. The connection does the talking; the
/// link only decides when to try again.
///
/// Confined to the daemon's event loop.
final class ChannelLink {
    /// A new attempt soon after a live attach ended (the other end restarted); longer,
    /// doubling waits while the other end is away.
    static let quickRetry = TimeAmount.milliseconds(100)
    static let maximumRetry = TimeAmount.seconds(5)
    /// An attach that lasted this long counts as live.
    static let liveAttach = TimeAmount.seconds(2)

    let channel: VirtioChannel
    let kind: ChannelKind
    var current: Channel?
    var retry: Scheduled<Void>?
    var delay = ChannelLink.quickRetry
    var openedAt = NIODeadline.now()
    var reportedAway = false
    /// Why the last attempt failed, while the channel is not attached (for `clipd doctor`).
    var lastProblem: String?
    /// Removed by `channelDetach`: never attached again.
    var detached = false

    init(channel: VirtioChannel, kind: ChannelKind) {
        self.channel = channel
        self.kind = kind
    }
}

/// The guest end's wishes, consulted at each new hello from the host.
final class VirtioGuestLink {
    /// A `clipd pair CODE virtio` waiting for the next hello.
    var pendingJoin: (PairingInitiator, ControlConnection)?
    var toldUnpaired = false

    /// What to start on a new attach: a pending pairing first, else the session with the
    /// paired host, else nothing (and say once how to pair).
    func nextStep(_ daemon: Daemon) -> GuestChannelStep {
        if let (pairing, reply) = pendingJoin {
            pendingJoin = nil
            return .pair(pairing, reply)
        }
        if let host = daemon.peers.peers.first(where: { $0.addresses.contains(Daemon.virtioTarget) }) {
            toldUnpaired = false
            return .handshake(host)
        }
        if !toldUnpaired {
            toldUnpaired = true
            daemon.logger.notice("the VM host is attached but not paired with this guest: run `clipd pair` on the host and `clipd pair CODE virtio` here")
        }
        return .wait
    }
}

extension Daemon {
    /// The pairing target and stored address that mean "the host, over this guest's channel".
    static let virtioTarget = "virtio"

    /// Opens every configured VM channel: host ends connect or listen, a guest end opens
    /// its port. Failures to reach the other end are retried, not thrown; a listening
    /// socket that cannot be bound is an error.
    func startVirtioChannels() async throws {
        let channels = configuration.virtio.map { ($0, ChannelKind.clipd) } + configuration.vdagent.map { ($0, ChannelKind.spiceAgent) }
        for (channel, kind) in channels {
            switch channel {
            case .hostListen(let path):
                try await listenForQEMU(path: path, kind: kind)
            case .hostConnect, .guestDevice:
                try await loop.submit { [self] in
                    let link = ChannelLink(channel: channel, kind: kind)
                    virtioLinks.append(link)
                    attach(link)
                }.get()
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
        ((try? String(contentsOfFile: paths.attachedChannelsFile, encoding: .utf8)) ?? "").split(separator: "\n").map { line in
            line.hasPrefix(Self.agentLinePrefix) ? (String(line.dropFirst(Self.agentLinePrefix.count)), .spiceAgent) : (String(line), .clipd)
        }
    }

    private static let agentLinePrefix = "vdagent "

    /// Records the channels attached at run time (not those from the configuration).
    func saveAttachedChannels() {
        let configured = Set(configuration.virtio.map { "\($0)" } + configuration.vdagent.map { Self.agentLinePrefix + "\($0)" })
        let specs = virtioLinks.map { ($0.kind == .spiceAgent ? Self.agentLinePrefix : "") + "\($0.channel)" }.filter { !configured.contains($0) }
        if specs.isEmpty {
            unlink(paths.attachedChannelsFile)
        } else {
            try? PrivateFiles.writeAtomically(paths.attachedChannelsFile, contents: Array((specs.joined(separator: "\n") + "\n").utf8))
        }
    }

    private func listenForQEMU(path: String, kind: ChannelKind) async throws {
        var status = stat()
        if lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let previous = umask(0o077)
        defer { umask(previous) }
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelInitializer(Self.acceptBackoff)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
                .childChannelOption(.recvAllocator, value: Self.receiveAllocator)
                .childChannelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addConnection(hostHandler(kind, channel: "unix-listen:\(path)"))
                    }
                }
                .bind(unixDomainSocketPath: path).get()
            try await loop.submit { [self] in
                if kind == .clipd { virtioListeners.append(channel) } else { agentListeners.append((channel, "unix-listen:\(path)")) }
            }.get()
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
        case .clipd: PeerConnection(owner: self, role: .channelHost(attachID: Self.newAttachID()), remote: "virtio \(channel)")
        case .spiceAgent: VDAgentConnection(daemon: self, channel: channel)
        }
    }

    /// One attempt to attach `link`; the next is scheduled when it fails or ends.
    func attach(_ link: ChannelLink) {
        assertOnLoop()
        guard !stopped else { return }
        link.retry = nil
        let remote = "virtio \(link.channel)"
        let opened: EventLoopFuture<Channel>
        switch link.channel {
        case .hostConnect(let path):
            opened = ClientBootstrap(group: group)
                .channelOption(.writeBufferWaterMark, value: .init(low: 1 << 20, high: 4 << 20))
                .channelOption(.recvAllocator, value: Self.receiveAllocator)
                .channelInitializer { [self, kind = link.kind, spec = link.channel.description] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addConnection(hostHandler(kind, channel: spec))
                    }
                }
                .connect(unixDomainSocketPath: path)
        case .guestDevice(let path):
            // One open per port: reads and writes share this descriptor (NIO duplicates it,
            // which keeps the single open).
            let fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
            guard fd >= 0 else {
                attachFailed(link, reason: "cannot open \(path): \(String(cString: strerror(errno)))")
                return
            }
            // A terminal (QEMU's `-chardev pty`) carries bytes, not lines: no echo, no CR/LF
            // translation, no signals.
            if isatty(fd) != 0 {
                var settings = termios()
                tcgetattr(fd, &settings)
                cfmakeraw(&settings)
                tcsetattr(fd, TCSANOW, &settings)
            }
            opened = NIOPipeBootstrap(group: group)
                .channelOption(.recvAllocator, value: Self.receiveAllocator)
                .channelInitializer { [self, kind = link.kind, spec = link.channel.description] channel in
                    channel.eventLoop.makeCompletedFuture {
                        // A device for an agent is the host's end of its port (a pty, say).
                        let handler: ChannelHandler = kind == .clipd
                            ? PeerConnection(owner: self, role: .channelGuest, remote: remote)
                            : VDAgentConnection(daemon: self, channel: spec)
                        try channel.pipeline.syncOperations.addConnection(handler)
                    }
                }
                .takingOwnershipOfDescriptor(inputOutput: fd)
        case .hostListen:
            return
        }
        link.openedAt = .now()
        // Every callback runs on `loop`, where the link lives.
        let bound = NIOLoopBound(link, eventLoop: loop)
        opened.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                bound.value.current = channel
                bound.value.lastProblem = nil
                channel.closeFuture.whenComplete { [self] _ in attachEnded(bound.value) }
            case .failure(let error):
                attachFailed(bound.value, reason: Self.shortError(error))
            }
        }
    }

    private func attachFailed(_ link: ChannelLink, reason: String) {
        guard !link.detached else { return }
        link.lastProblem = reason
        if !link.reportedAway {
            link.reportedAway = true
            logger.notice("VM channel not attached; retrying", metadata: ["channel": "\(link.channel)", "reason": "\(reason)"])
        }
        scheduleAttach(link, after: link.delay)
        link.delay = min(link.delay * 2, ChannelLink.maximumRetry)
    }

    /// The transport closed: the other end went away, restarted, or a session ended. A
    /// guest reads end-of-file at once while no host is attached, so short attaches back
    /// off; a long one is followed by a quick retry.
    private func attachEnded(_ link: ChannelLink) {
        link.current = nil
        guard !stopped, !link.detached else { return }
        if NIODeadline.now() - link.openedAt >= ChannelLink.liveAttach {
            link.delay = ChannelLink.quickRetry
            link.reportedAway = false
        }
        scheduleAttach(link, after: link.delay)
        link.delay = min(link.delay * 2, ChannelLink.maximumRetry)
    }

    private func scheduleAttach(_ link: ChannelLink, after delay: TimeAmount) {
        let bound = NIOLoopBound(link, eventLoop: loop)
        link.retry = loop.scheduleTask(in: delay) { [self] in attach(bound.value) }
    }

    /// `clipd pair CODE virtio` in a guest: the pairing starts at the host's next hello,
    /// which a fresh open of the port asks for.
    func joinOverVirtio(_ pairing: PairingInitiator, client: ControlConnection) throws {
        guard let link = virtioLinks.first(where: { $0.channel.isGuest && $0.kind == .clipd }) else {
            throw DaemonError("this daemon has no VM channel to a host: `clipd pair CODE virtio` works in a guest whose clipd runs with its virtio port (--virtio DEVICE, found by default at /dev/virtio-ports/\(VirtioChannel.portName))")
        }
        guestLink.pendingJoin?.1.finish(.failure("pairing failed: replaced by a newer `clipd pair`"))
        guestLink.pendingJoin = (pairing, client)
        link.delay = ChannelLink.quickRetry
        if let current = link.current {
            current.close(promise: nil)  // reopened at once, and the host says hello again
        } else {
            link.retry?.cancel()
            attach(link)
        }
    }

    /// Whether guests can reach this daemon over a VM channel (and so pair with it).
    var hasHostChannels: Bool { !virtioListeners.isEmpty || virtioLinks.contains { !$0.channel.isGuest && $0.kind == .clipd } }

    /// Adds a host channel while running (`passvm run` when its VM starts).
    func attachChannel(_ text: String, kind: ChannelKind) throws -> ControlResponse {
        let channel = try VirtioChannel(parsing: text, option: kind.option)
        guard case .hostConnect = channel else { throw DaemonError("only unix:PATH channels can be attached at run time") }
        let what = kind == .clipd ? "" : "\(kind.label) "
        var response = ControlResponse(ok: true)
        if virtioLinks.contains(where: { $0.channel == channel && $0.kind == kind }) {
            response.lines = ["already attached to \(what)\(channel)"]
            return response
        }
        let link = ChannelLink(channel: channel, kind: kind)
        virtioLinks.append(link)
        attach(link)
        saveAttachedChannels()
        logger.info("\(kind.label)", metadata: ["channel": "\(channel)", "end": "host"])
        response.lines = ["attached to \(what)\(channel)"]
        return response
    }

    /// Drops a channel attached at run time (`passvm run` when its VM stops).
    func detachChannel(_ text: String, kind: ChannelKind) throws -> ControlResponse {
        let channel = try VirtioChannel(parsing: text, option: kind.option)
        guard let index = virtioLinks.firstIndex(where: { $0.channel == channel && $0.kind == kind }) else {
            throw DaemonError("no \(kind.label) \(channel) is attached")
        }
        let link = virtioLinks.remove(at: index)
        link.retry?.cancel()
        link.retry = nil
        link.detached = true
        link.current?.close(promise: nil)
        saveAttachedChannels()
        var response = ControlResponse(ok: true)
        response.lines = ["detached from \(channel)"]
        return response
    }

    func stopVirtioChannels() -> [Channel] {
        for link in virtioLinks {
            link.retry?.cancel()
            link.retry = nil
        }
        return virtioLinks.compactMap(\.current) + virtioListeners + agentListeners.map(\.0)
    }
}
