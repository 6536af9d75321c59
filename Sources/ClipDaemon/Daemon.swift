import CClipSystem
import ClipCrypto
import ClipSync
import ClipboardBackends
import ClipWire
import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The running daemon: its pieces, and what joins them. The engine and its sessions are
/// the `hub`; the control socket and its clients are `control`; the desktop is
/// `desktop`; listeners, dialers and VM/agent channels are `links`; pairing is `pairing`.
/// The daemon itself is the piece that owns the hub, the sessions and the trust store.
/// Pieces reach the daemon through narrow protocols (`DesktopHost`, `WatchHost`,
/// `LinkServiceHost`, `PairingServiceHost`), and so do connections (`PeerConnectionOwner`,
/// `HandshakeAuthority`, `AgentConnectionOwner`, `ControlRequestHandler`), never as a
/// whole. `DaemonService` runs the pieces in one `ServiceGroup`, in the order of `pieces`.
///
/// Threading: the daemon runs on a one-thread `EventLoopGroup`; every method below must be
/// called on `loop`, and NIO delivers every channel callback there.
///
/// Sound as `@unchecked Sendable`: that confinement, asserted in `assertOnLoop()`; closures
/// may carry the reference across NIO's `@Sendable` APIs, but the state is only ever
/// touched from the loop.
///
/// Lifetime: connection handlers and pieces hold the daemon unowned, so whoever creates it
/// keeps it until its group has shut down (stopping leaves accepted connections open; the
/// group closes them).
final class Daemon: DaemonPiece, @unchecked Sendable {
    let pieceName = "hub and sessions"
    let loop: EventLoop
    let group: EventLoopGroup
    let logger: Logger
    let identity: LocalIdentity
    let peers: PeerStore
    let paths: DaemonPaths
    /// What the daemon runs with; a reload replaces it (`Daemon+Reload`).
    var configuration: DaemonConfiguration
    /// The engine and its sessions: peers' connections and guests' SPICE agents alike.
    let hub: SyncHub
    var engine: SyncEngine { hub.engine }

    /// The control socket, `send --wait` clients and watchers.
    private(set) lazy var control = ControlService(paths: paths, group: group, loop: loop, handler: self, watchHost: self)
    /// This machine's desktop clipboard.
    private(set) lazy var desktop = DesktopService(
        backend: DesktopService.makeBackend(configuration: configuration, environment: ProcessInfo.processInfo.environment, logger: logger),
        host: self, device: identity.deviceID, loop: loop, logger: logger)
    /// Every listener, dialer and channel: how this daemon reaches and is reached.
    private(set) lazy var links = LinkService(host: self, group: group, loop: loop, logger: logger, attachedChannelsFile: paths.attachedChannelsFile)
    /// The pairing window and saving pairs.
    private(set) lazy var pairing = PairingService(loop: loop, logger: logger, peers: peers, host: self)
    /// The pieces in the order they start: the control socket first (a second daemon stops
    /// there), then this daemon's own state, the desktop, and the links last, so nothing
    /// reaches the engine before the pieces it needs are up. They stop in reverse.
    var pieces: [DaemonPiece] { [control, self, desktop, links] }

    /// Nothing leaves or enters this machine's clipboard while paused (`Daemon+Policy`).
    var paused = false
    /// When each peer's session opened or last closed (for `clipd peers` and `doctor`).
    let contacts: ContactLog
    /// When this daemon started.
    let startedAt = Date()
    /// True while a reload is under way (`Daemon+Reload`).
    var reloading = false
    /// Where a reload reads the configuration from; nil when the daemon was given a
    /// configuration only (tests, benchmarks).
    var configurationSource: ConfigurationSource?
    /// Handshake timestamps sent and accepted (replay protection).
    private var replayGuard = HandshakeReplayGuard()
    /// Reads of items whose bytes are still on their way.
    let localReads = LocalReads()
    /// Accepted connections still without a session or a finished pairing, bounded.
    let unauthenticated = UnauthenticatedConnections()
    /// Connections that ended before authenticating, summed up for the log.
    private(set) lazy var strangers = StrangerLog(loop: loop, logger: logger)
    /// Copies of files that came with items from peers.
    private(set) lazy var files = FileDelivery(daemon: self, runtimeDirectory: paths.runtimeDirectory)
    private(set) var stopped = false
    /// The trim that runs once the daemon has been quiet for `trimDelay`.
    private var memoryTrim: Scheduled<Void>?
    /// Wakes when the earliest fetch would be stalled (`Daemon+Liveness`); only while
    /// something is fetched.
    var fetchWatch: Scheduled<Void>?

    /// Creates the daemon's state and its pieces. Nothing is opened until they start.
    init(configuration: DaemonConfiguration, paths: DaemonPaths, group: EventLoopGroup, logger: Logger) throws {
        self.configuration = configuration
        self.paths = paths
        self.group = group
        self.loop = group.next()
        self.logger = logger
        var identity = try LocalIdentity.loadOrCreate(paths: paths)
        if let name = configuration.name { identity = LocalIdentity(key: identity.key, name: name) }
        self.identity = identity
        self.peers = try PeerStore(path: paths.peersFile)
        paused = FileManager.default.fileExists(atPath: paths.pausedFile)
        contacts = ContactLog(path: paths.lastContactFile)
        hub = SyncHub(engine: SyncEngine(
            deviceID: identity.deviceID, deviceName: identity.name, maximumItemSize: configuration.maximumItemSize,
            selections: configuration.selections, lazyThreshold: configuration.lazyThreshold,
            chunkCacheBudget: Int(clamping: configuration.chunkCacheBudget),
            wallMilliseconds: Self.wallMilliseconds, monotonicMilliseconds: Self.monotonicMilliseconds))
        hub.local = self
        // Made here, on the creating thread, before the daemon is shared: the pieces start
        // off the loop.
        _ = (control, desktop, links, pairing)
    }

    /// Peers' sessions, by id.
    var connections: [SessionID: PeerConnection] { hub.endpoints.compactMapValues { $0 as? PeerConnection } }
    /// Guests' SPICE agents' sessions, by id.
    var agentSessions: [SessionID: VDAgentConnection] { hub.endpoints.compactMapValues { $0 as? VDAgentConnection } }

    func assertOnLoop() { loop.preconditionInEventLoop() }

    /// How long after the last item the daemon gives free heap memory back to the kernel.
    static let trimDelay = TimeAmount.seconds(2)

    /// Gives the allocator's free memory back once copies stop for a moment: the allocator
    /// is tuned to keep freed blocks while items stream (`clipd_tune_allocator`), and a busy
    /// hour would otherwise leave the resident size at its peak. Call on the loop.
    func scheduleMemoryTrim() {
        memoryTrim?.cancel()
        memoryTrim = loop.scheduleTask(in: Self.trimDelay) { clipd_release_free_memory() }
    }

    /// The wall clock for hybrid clocks: milliseconds since the Unix epoch.
    @Sendable static func wallMilliseconds() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    /// A clock that never jumps, for silences: milliseconds since boot.
    @Sendable static func monotonicMilliseconds() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    // MARK: Start and stop

    /// Takes over the state directories (the control socket is bound, so no other daemon
    /// uses them): copies of files a previous run delivered are removed, and so is what a
    /// crash left between writing a file and renaming it over the old one (the old one is
    /// intact).
    func start() async throws {
        try await loop.submit { [self] in files.clear() }.get()
        for directory in Set([paths.stateDirectory, paths.runtimeDirectory]) {
            for stale in PrivateFiles.removeStaleTemporaries(in: directory) {
                logger.notice("removed a file a crash left half-written; the one it was to replace is intact", metadata: ["file": "\(stale)"])
            }
        }
        if paused { logger.notice("sync is paused (since `clipd pause`): run `clipd resume` to sync again") }
    }

    /// Every piece has started: the control socket answers from now on, and the commented
    /// default configuration is written if there is none. Only a daemon that started
    /// writes it: a failed start says one line and leaves nothing behind.
    func allStarted() async {
        do {
            if let written = try configurationSource?.writeDefaultFileIfMissing() {
                logger.notice("wrote a commented default configuration to \(written) (every line is a default; edit it, then `clipd config reload`)")
            }
        } catch {
            logger.warning("could not write a default configuration: \(error)")
        }
        try? await loop.submit { [self] in control.openForRequests() }.get()
        logger.info("clipd running", metadata: [
            "device": "\(identity.name) (\(identity.deviceID.short))", "backend": "\(desktop.description)",
            "control": "\(paths.controlSocket)", "peers": "\(peers.peers.count)",
        ])
    }

    /// Ends pairing and every peer's session, and saves when peers were last seen. The
    /// links have stopped by now (they stop first).
    func stop() async {
        try? await loop.submit { [self] in
            stopped = true
            pairing.close()
            fetchWatch?.cancel()
            fetchWatch = nil
            strangers.write()
            for connection in connections.values { connection.close(reason: "daemon stopping") }
            do {
                try contacts.save(keeping: Set(peers.peers.map(\.deviceID)))
            } catch {
                logger.warning("could not save when peers were last seen: \(error)")
            }
        }.get()
    }

    // MARK: Sessions

    func handshakeTimestamp() -> UInt64 { replayGuard.issue() }

    func handshakeTimestampProblem(_ timestamp: UInt64, from peer: DeviceID) -> String? { replayGuard.problem(with: timestamp, from: peer) }

    func recordHandshakeTimestamp(_ timestamp: UInt64, from peer: DeviceID) { replayGuard.record(timestamp, from: peer) }

    /// A connection finished its handshake. Returns its session id, or nil when an existing
    /// session to the same peer wins (the duplicate is closed).
    func sessionEstablished(_ connection: PeerConnection) -> SessionID? {
        assertOnLoop()
        guard let peer = connection.peer, let initiator = connection.initiatorDevice, !stopped else {
            connection.close(reason: "daemon stopping")
            return nil
        }
        let existing = connections.values.first(where: { $0.peer?.deviceID == peer.deviceID })
        if let existing {
            // Both ends keep the session dialled by the device with the smaller id; a
            // reconnect by the same device replaces its older session.
            let keepNew = existing.initiatorDevice == initiator || initiator < existing.initiatorDevice!
            guard keepNew else {
                connection.close(reason: "duplicate session")
                return nil
            }
        }
        let id = hub.register(connection)
        // Registered first, so closing the old session does not start a redial.
        existing?.close(reason: "replaced by a newer session")
        links.set.dialer(peer.deviceID)?.connected()
        contacts.opened(peer.deviceID)
        logger.info("session established", metadata: ["peer": "\(peer.name)", "remote": "\(connection.remoteDescription)"])
        hub.perform(engine.sessionOpened(id, peer: peer.deviceID, policy: effectivePolicy(for: peer.deviceID)))
        return id
    }

    func sessionEnded(_ id: SessionID, connection: PeerConnection, reason: String? = nil) {
        assertOnLoop()
        guard hub.close(id, of: connection, reason: reason) else { return }
        if let peer = connection.peer { contacts.closed(peer.deviceID) }
        control.waits.sessionEnded(id, name: connection.peer?.name ?? "peer")
        if let peer = connection.peer, !stopped { links.ensureDialer(peer.deviceID) }
    }

    func received(_ message: SessionMessage, on id: SessionID) { hub.received(message, on: id) }

    /// The far end of a session, a peer's or a guest agent's.
    func endpoint(_ id: SessionID) -> SessionEndpoint? { hub.endpoint(id) }

    func peerName(of id: SessionID) -> String { endpoint(id)?.sessionName ?? "peer" }

    /// A guest's SPICE agent is ready: its session opens like a peer's, and the engine's
    /// catch-up offers what the host holds.
    func agentSessionOpened(_ connection: VDAgentConnection) {
        assertOnLoop()
        guard !stopped else { return }
        let id = hub.register(connection)
        connection.sessionID = id
        let actions = engine.sessionOpened(id, peer: connection.bridge.guestDevice, policy: agentPolicy)
        hub.received(.hello(.init(deviceName: connection.name, maximumItemSize: configuration.maximumItemSize)), on: id)
        hub.perform(actions)
    }

    func agentSessionClosed(_ id: SessionID, connection: VDAgentConnection) {
        assertOnLoop()
        guard hub.close(id, of: connection) else { return }
        control.waits.sessionEnded(id, name: connection.name)
    }
}
