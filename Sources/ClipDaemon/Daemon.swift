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

/// The running daemon: the pieces that connect the sync engine to the world, and what
/// joins them. The engine and its sessions are the `hub`; listeners, dialers and VM/agent
/// channels are `links`; pairing is `pairing`; the desktop is `backend`. Connections reach
/// the daemon through narrow protocols (`PeerConnectionOwner`, `HandshakeAuthority`,
/// `AgentConnectionOwner`, `ControlRequestHandler`), never as a whole.
///
/// Threading: the daemon runs on a one-thread `EventLoopGroup`; every method below must be
/// called on `loop`, and NIO delivers every channel callback there.
///
/// Sound as `@unchecked Sendable`: that confinement, asserted in `assertOnLoop()`; closures
/// may carry the reference across NIO's `@Sendable` APIs, but the state is only ever
/// touched from the loop.
///
/// Lifetime: connection handlers hold the daemon unowned, so whoever creates it keeps it
/// until its group has shut down (`stop()` leaves accepted control connections open; the
/// group closes them).
final class Daemon: @unchecked Sendable {
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
    let backend: ClipboardBackend

    /// The live connection of each SPICE agent channel, by its spec.
    private(set) var agentConnections: [String: VDAgentConnection] = [:]
    /// Every listener, dialer and channel: how this daemon reaches and is reached.
    private(set) lazy var links = LinkService(host: self, group: group, loop: loop, logger: logger, attachedChannelsFile: paths.attachedChannelsFile)
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
    var controlChannel: Channel?
    /// Handshake timestamps sent and accepted (replay protection).
    private var replayGuard = HandshakeReplayGuard()
    /// The pairing window and saving pairs.
    private(set) lazy var pairing = PairingService(loop: loop, logger: logger, peers: peers, host: self)
    var waits: [ItemID: WaitState] = [:]
    var watchers: [ObjectIdentifier: Watcher] = [:]
    /// Reads of items whose bytes are still on their way.
    let localReads = LocalReads()
    /// Accepted connections still without a session or a finished pairing, bounded.
    let unauthenticated = UnauthenticatedConnections()
    /// Connections that ended before authenticating, summed up for the log.
    private(set) lazy var strangers = StrangerLog(loop: loop, logger: logger)
    /// Copies of files that came with items from peers.
    private(set) lazy var files = FileDelivery(daemon: self, runtimeDirectory: paths.runtimeDirectory)
    /// Tells a clipboard manager's restore of older text from a copy (loop only).
    var restoreGuard = RestoreGuard()
    /// Why the newest pastes of items failed, by item (loop only): `clipd status` shows it
    /// for the current items until a paste of them succeeds.
    var undelivered: [ItemID: String] = [:]
    private(set) var stopped = false
    /// False until `start()` has finished: control requests that come earlier wait for it,
    /// so an answer from the control socket means the desktop is watched and the
    /// listeners are bound.
    private(set) var started = false
    /// Control requests that came while the daemon was starting.
    private var heldRequests: [() -> Void] = []
    /// The trim that runs once the daemon has been quiet for `trimDelay`.
    private var memoryTrim: Scheduled<Void>?
    /// Wakes when the earliest fetch would be stalled (`Daemon+Liveness`); only while
    /// something is fetched.
    var fetchWatch: Scheduled<Void>?

    /// Creates the daemon's state. Nothing is opened until `start()`.
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
        backend = Self.makeBackend(configuration: configuration, environment: ProcessInfo.processInfo.environment, logger: logger)
        hub = SyncHub(engine: SyncEngine(
            deviceID: identity.deviceID, deviceName: identity.name, maximumItemSize: configuration.maximumItemSize,
            selections: configuration.selections, lazyThreshold: configuration.lazyThreshold,
            chunkCacheBudget: Int(clamping: configuration.chunkCacheBudget),
            wallMilliseconds: Self.wallMilliseconds, monotonicMilliseconds: Self.monotonicMilliseconds))
        hub.local = self
        // Made here, on the creating thread, before the daemon is shared: `start()` first
        // uses them off the loop.
        _ = (links, pairing)
    }

    /// Peers' sessions, by id.
    var connections: [SessionID: PeerConnection] { hub.endpoints.compactMapValues { $0 as? PeerConnection } }
    /// Guests' SPICE agents' sessions, by id.
    var agentSessions: [SessionID: VDAgentConnection] { hub.endpoints.compactMapValues { $0 as? VDAgentConnection } }

    func assertOnLoop() { loop.preconditionInEventLoop() }

    /// Runs `request` now if the daemon has started, else once it has. Call on the loop.
    func whenStarted(_ request: @escaping () -> Void) {
        assertOnLoop()
        if started { request() } else { heldRequests.append(request) }
    }

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

    /// The configured backend. `auto` on Wayland falls back to X11 (through XWayland) when
    /// the compositor has no data-control protocol and DISPLAY is set; an explicit
    /// `wayland` does not, so its start fails with the compositor's one-line error.
    static func makeBackend(configuration: DaemonConfiguration, environment: [String: String], logger: Logger) -> ClipboardBackend {
        let policy = ClipboardPolicy(syncSecrets: configuration.syncSecrets, extraMIMETypes: Set(configuration.extraMIMETypes),
                                     maximumItemSize: Int(clamping: configuration.maximumItemSize))
        let x11 = X11Backend(displayName: nil, selections: configuration.selections, policy: policy)
        switch configuration.resolvedBackend(environment: environment) {
        case .wayland:
            if configuration.backend == .auto && !(environment["DISPLAY"] ?? "").isEmpty {
                do {
                    try WaylandBackend.probe(displayName: nil)
                } catch {
                    logger.notice("not using Wayland: \(error); using X11 on DISPLAY \(environment["DISPLAY"] ?? "") instead")
                    return x11
                }
            }
            return WaylandBackend(displayName: nil, selections: configuration.selections, policy: policy)
        case .x11: return x11
        default: return MemoryBackend()
        }
    }

    // MARK: Start and stop

    /// Binds the control socket and listeners and starts dialing peers. Throws a
    /// one-line `DaemonError` when a socket cannot be bound.
    func start() async throws {
        try PrivateFiles.ensureDirectory(paths.runtimeDirectory)
        try await loop.submit { [self] in files.clear() }.get()
        try await bindControlSocket()
        // This daemon owns the state now: what a crash left between writing a file and
        // renaming it over the old one is removed (the old one is intact).
        for directory in Set([paths.stateDirectory, paths.runtimeDirectory]) {
            for stale in PrivateFiles.removeStaleTemporaries(in: directory) {
                logger.notice("removed a file a crash left half-written; the one it was to replace is intact", metadata: ["file": "\(stale)"])
            }
        }
        do {
            let loop = self.loop
            try backend.start(
                onCopy: { [self] copy in loop.execute { self.desktopCopied(copy) } },
                onReconnect: { [self] in
                    loop.execute {
                        for selection in Selection.allCases {
                            guard let header = self.engine.currentHeader(selection) else { continue }
                            guard let view = self.desktopOwnership(of: header, held: self.engine.currentItem(selection)) else { continue }
                            self.backend.own(view.header, content: view.content)
                        }
                    }
                },
                log: { [logger] line in logger.warning("\(line)") })
        } catch {
            throw DaemonError("\(error)")
        }
        if paused { logger.notice("sync is paused (since `clipd pause`): run `clipd resume` to sync again") }
        for address in configuration.listen {
            let listener = try await links.bindListener(address)
            try await loop.submit { [self] in links.set.add(listener) }.get()
            logger.info("listening", metadata: ["address": "\(listener.bound)"])
        }
        try await links.startChannels(virtio: configuration.virtio, vdagent: configuration.vdagent)
        try await loop.submit { [self] in
            for peer in peers.peers where !peer.addresses.isEmpty { links.ensureDialer(peer.deviceID) }
        }.get()
        // Only a daemon that started writes the commented default file: a failed start says
        // one line and leaves nothing behind.
        do {
            if let written = try configurationSource?.writeDefaultFileIfMissing() {
                logger.notice("wrote a commented default configuration to \(written) (every line is a default; edit it, then `clipd config reload`)")
            }
        } catch {
            logger.warning("could not write a default configuration: \(error)")
        }
        try await loop.submit { [self] in
            started = true
            for request in heldRequests { request() }
            heldRequests = []
        }.get()
        logger.info("clipd running", metadata: [
            "device": "\(identity.name) (\(identity.deviceID.short))", "backend": "\(backend.description)",
            "control": "\(paths.controlSocket)", "peers": "\(peers.peers.count)",
        ])
    }

    /// Closes every socket and cancels every timer. A message under way to a guest's SPICE
    /// agent is finished first (for up to `agentWriteGrace`): an agent holds a half-received
    /// message and would take the next host's first message as its rest.
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
        let channels: [Channel] = (try? await loop.submit { [self] () -> [Channel] in
            stopped = true
            backend.stop()
            pairing.close()
            fetchWatch?.cancel()
            fetchWatch = nil
            strangers.write()
            let all = links.stop() + (controlChannel.map { [$0] } ?? [])
            for connection in connections.values { connection.close(reason: "daemon stopping") }
            do {
                try contacts.save(keeping: Set(peers.peers.map(\.deviceID)))
            } catch {
                logger.warning("could not save when peers were last seen: \(error)")
            }
            return all
        }.get()) ?? []
        for channel in channels { try? await channel.close() }
        unlink(paths.controlSocket)
    }

    // MARK: Sessions

    /// How long a stopping daemon waits for a guest's agent to take the message under way.
    static let agentWriteGrace = TimeAmount.seconds(2)

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
        failWaits(for: id, peerName: connection.peer?.name ?? "peer")
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

    /// One agent per channel: a second connection on a listening socket (the agent or
    /// QEMU came back before the first connection was seen to close) replaces the first,
    /// so the guest keeps one session and one device id.
    func agentChannelOpened(_ connection: VDAgentConnection) {
        assertOnLoop()
        if let older = agentConnections[connection.channelDescription], older !== connection {
            older.close(reason: "replaced by a newer connection on the same channel")
        }
        agentConnections[connection.channelDescription] = connection
    }

    func agentChannelClosed(_ connection: VDAgentConnection) {
        assertOnLoop()
        if agentConnections[connection.channelDescription] === connection { agentConnections[connection.channelDescription] = nil }
    }

    func agentSessionClosed(_ id: SessionID, connection: VDAgentConnection) {
        assertOnLoop()
        guard hub.close(id, of: connection) else { return }
        failWaits(for: id, peerName: connection.name)
    }

    /// An application on this desktop copied something: a new local item for every peer.
    func desktopCopied(_ copy: LocalCopy) {
        assertOnLoop()
        guard !stopped, configuration.selections.contains(copy.selection) else { return }
        guard !copy.representations.isEmpty else { return desktopCleared(copy.selection) }
        // A type name an application made up that is no MIME type (an X atom may hold any
        // byte) is left out here, so no peer ever sees one (protocol/sync.md, MIMEType).
        let unnamed = copy.representations.filter { !MIMEType.isValid($0.mimeType) }
        if !unnamed.isEmpty {
            logger.info("left out types that are not MIME types from a \(copy.selection) copy",
                        metadata: ["types": "\(unnamed.map { Printable.text($0.mimeType) }.joined(separator: ", "))"])
            let named = copy.representations.filter { MIMEType.isValid($0.mimeType) }
            guard !named.isEmpty else { return }
            return desktopCopied(LocalCopy(selection: copy.selection, representations: named))
        }
        guard !paused else { return logger.debug("sync paused: a \(copy.selection) copy stays on this machine") }
        if let current = engine.currentItem(copy.selection), restoreGuard.isRestore(copy, current: current) {
            // A clipboard manager put an older entry back just as a newer item arrived: the
            // newer one stays current here and everywhere, and goes back on the desktop.
            logger.notice("kept the newer \(copy.selection) item: an application put older text back on the desktop a moment after it arrived (a clipboard manager restoring its history)")
            if let view = desktopOwnership(of: current.header, held: current) { backend.own(view.header, content: view.content) }
            return
        }
        let total = copy.representations.reduce(0) { $0 + UInt64($1.bytes.count) }
        guard total <= configuration.maximumItemSize else {
            logger.warning("not syncing a \(SizeParser.format(total)) \(copy.selection) item: over --max-size \(SizeParser.format(configuration.maximumItemSize))")
            return
        }
        guard configuration.syncFiles, let list = copy.representations.first(where: { $0.mimeType == FileDelivery.uriList }),
              !copy.representations.contains(where: { $0.mimeType == FileBundle.mimeType })
        else { return intakeDesktopCopy(copy.selection, copy.representations) }
        // Files named by the list go with it: read off the loop, then taken in.
        let limit = configuration.maximumItemSize - total
        let taken = NIOLoopBound({ [self] (bundle: FileBundle?) in
            let representations = copy.representations + (bundle.map { [(FileBundle.mimeType, $0.encoded())] } ?? [])
            intakeDesktopCopy(copy.selection, representations)
        }, eventLoop: loop)
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) { () -> Result<FileBundle?, DaemonError> in
            do { return .success(try FileBundler.bundle(uriList: list.bytes, limit: limit)) } catch { return .failure(DaemonError("\(error)")) }
        }.whenComplete { [self] result in
            switch result {
            case .success(.success(let bundle)): taken.value(bundle)
            case .success(.failure(let error)):
                logger.warning("syncing the \(copy.selection) list of files without the files: \(error)")
                taken.value(nil)
            case .failure: break  // stopping
            }
        }
    }

    private func intakeDesktopCopy(_ selection: Selection, _ representations: [(mimeType: String, bytes: [UInt8])]) {
        let data = representations.count == 1 ? representations[0].bytes : representations.flatMap(\.bytes)
        intakeLocalCopy(selection: selection, representations: representations.map { RepresentationInfo(mimeType: $0.mimeType, size: UInt64($0.bytes.count)) },
                        data: data) { [self] item in
            guard let item else { return }
            restoreGuard.remember(item.header, held: item)
            notifyWatchers(item.header, held: item)
        }
    }
}
