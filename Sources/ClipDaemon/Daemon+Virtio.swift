import ClipCrypto
import ClipWire
import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The guest end's wishes, consulted at each new hello from the host.
final class VirtioGuestLink {
    /// A `clipd pair CODE virtio` waiting for the next hello.
    var pendingJoin: (PairingInitiator, ControlConnection)?
    var toldUnpaired = false

    /// What to start on a new attach: a pending pairing first, else the session with the
    /// paired host, else nothing (and say once how to pair).
    func nextStep(peers: PeerStore, logger: Logger) -> GuestChannelStep {
        if let (pairing, reply) = pendingJoin {
            pendingJoin = nil
            return .pair(pairing, reply)
        }
        if let host = peers.peers.first(where: { $0.addresses.contains(.hostChannel) }) {
            toldUnpaired = false
            return .handshake(host)
        }
        if !toldUnpaired {
            toldUnpaired = true
            logger.notice("the VM host is attached but not paired with this guest: run `clipd pair` on the host and `clipd pair CODE virtio` here")
        }
        return .wait
    }
}

extension Daemon {
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
        ((try? String(contentsOfFile: paths.attachedChannelsFile, encoding: .utf8)) ?? "").split(separator: "\n").map { line in
            line.hasPrefix(Self.agentLinePrefix) ? (String(line.dropFirst(Self.agentLinePrefix.count)), .spiceAgent) : (String(line), .clipd)
        }
    }

    private static let agentLinePrefix = "vdagent "

    /// Records the channels attached at run time (not those from the configuration).
    func saveAttachedChannels() {
        let configured = Set(configuration.virtio.map { "\($0)" } + configuration.vdagent.map { Self.agentLinePrefix + "\($0)" })
        let specs = links.channels.map { ($0.kind == .spiceAgent ? Self.agentLinePrefix : "") + "\($0.channel)" }
            .filter { !configured.contains($0) }
        if specs.isEmpty {
            unlink(paths.attachedChannelsFile)
        } else {
            try? PrivateFiles.writeAtomically(paths.attachedChannelsFile, contents: Array((specs.joined(separator: "\n") + "\n").utf8))
        }
    }

    private func listenForQEMU(path: String, kind: ChannelKind) async throws {
        let spec = "unix-listen:\(path)"
        do {
            let channel = try await UnixSocketTransport.listen(at: path, group: group) { [self] _ in hostHandler(kind, channel: spec) }
            try await loop.submit { [self] in links.add(ListenerLink(key: .channel(.hostListen(path: path), kind), channel: channel, bound: spec)) }.get()
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

    /// Keeps `channel` attached from now on, with the reconnect policy.
    @discardableResult
    func addChannelLink(_ channel: VirtioChannel, kind: ChannelKind) -> ChannelLink {
        assertOnLoop()
        let connection = ReconnectingLink(
            loop: loop, backoff: ChannelLink.backoff, workingAfter: ChannelLink.workingAttach,
            open: { [unowned self] in try openChannel(channel, kind: kind) },
            failed: { [unowned self] reason, first in
                if first { logger.notice("VM channel not attached; retrying", metadata: ["channel": "\(channel)", "reason": "\(reason)"]) }
            })
        let link = ChannelLink(channel: channel, kind: kind, connection: connection)
        links.add(link)
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
                kind == .clipd ? PeerConnection(owner: self, role: .channelGuest, remote: "virtio \(spec)") as ChannelHandler : VDAgentConnection(daemon: self, channel: spec)
            }
        case .hostListen:
            throw DaemonError("a listening channel is not opened")
        }
    }

    /// `clipd pair CODE virtio` in a guest: the pairing starts at the host's next hello,
    /// which a fresh open of the port asks for.
    func joinOverVirtio(_ pairing: PairingInitiator, client: ControlConnection) throws {
        guard let link = links.channels(.clipd).first(where: { $0.channel.isGuest }) else {
            throw DaemonError("this daemon has no VM channel to a host: `clipd pair CODE virtio` works in a guest whose clipd runs with its virtio port (--virtio DEVICE, found by default at /dev/virtio-ports/\(VirtioChannel.portName))")
        }
        self.pairing.guestLink.pendingJoin?.1.finish(.failure("pairing failed: replaced by a newer `clipd pair`"))
        self.pairing.guestLink.pendingJoin = (pairing, client)
        link.connection.reconnectNow()  // the host says hello again to the new open
    }

    /// Whether guests can reach this daemon over a VM channel (and so pair with it).
    var hasHostChannels: Bool { !links.channelListeners(.clipd).isEmpty || links.channels(.clipd).contains { !$0.channel.isGuest } }

    /// Adds a host channel while running (`passvm run` when its VM starts).
    func attachChannel(_ text: String, kind: ChannelKind) throws -> ControlResponse {
        let channel = try VirtioChannel(parsing: text, option: kind.option)
        guard case .hostConnect = channel else { throw DaemonError("only unix:PATH channels can be attached at run time") }
        let what = kind == .clipd ? "" : "\(kind.label) "
        var response = ControlResponse(ok: true)
        if links.contains(.channel(channel, kind)) {
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
        guard links.link(.channel(channel, kind)) is ChannelLink else { throw DaemonError("no \(kind.label) \(channel) is attached") }
        links.remove(.channel(channel, kind))
        saveAttachedChannels()
        var response = ControlResponse(ok: true)
        response.lines = ["detached from \(channel)"]
        return response
    }
}
