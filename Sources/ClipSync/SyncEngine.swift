import ClipWire

/// The sync engine: which item each selection holds, which peer has offered what, which
/// ranges are being fetched and served. Pure logic: messages and local copies in,
/// `SyncAction`s out; streaming is pulled by the transport (`nextStreamMessage`).
///
/// Rules (protocol/sync.md):
/// - Versions are (hybrid clock, origin id); the greater wins everywhere (last writer wins).
/// - Every accepted item is offered on every other session, never back to the session it
///   came from nor to its origin; offers not newer than what is held are dropped, which
///   stops loops and duplicates by item identity, never by content.
/// - Items up to `inlineThreshold` bytes travel inside their offer; larger ones are offered
///   with their manifest (content-defined chunks and their hashes). Up to `lazyThreshold`
///   the receiver fetches them at once; above it, only when something reads them (a paste,
///   `clipd recv`, a peer fetching through this one). Either way only chunks not already
///   held are fetched, and every fetched chunk must match its hash before it is used.
/// - A relay passes on ranges it does not hold a window at a time (`relayWindow`) and keeps
///   only a bounded cache of chunks (`chunkCacheBudget`), never the whole item.
/// - Every offer is acknowledged with what became of it.
///
/// Not thread-safe: the daemon confines it to one event loop.
public final class SyncEngine {
    /// Items up to this many bytes travel inside their offer.
    public static let inlineThreshold = 64 * 1024
    /// Most bytes of one DATA record.
    public static let dataRecordPayload = 256 * 1024
    /// Most bytes one upstream request asks for.
    static let requestSpan: UInt64 = 16 << 20
    /// How far ahead of what it sent a relay fetches a range it does not hold.
    public static let relayWindow: UInt64 = 8 << 20

    public let deviceID: DeviceID
    /// Largest item offered or accepted; `updateLimits` changes it (a reload).
    public internal(set) var maximumItemSize: UInt64
    public let selections: Set<Selection>
    public let deviceName: String
    /// Items above this size are fetched only when read.
    public internal(set) var lazyThreshold: UInt64

    var clock: HybridClock
    let wallMilliseconds: @Sendable () -> UInt64
    /// A clock that never jumps, for how long peers have been silent.
    let monotonicMilliseconds: @Sendable () -> UInt64
    var current: [Selection: TrackedItem] = [:]
    /// An item small enough to fetch at once, not current until all its bytes are here
    /// (and then only if nothing newer came meanwhile): a failed fetch leaves the held item.
    var pending: [Selection: TrackedItem] = [:]
    /// The item each selection held before the current one: the base its successor's
    /// chunks are looked up in.
    var deltaBase: [Selection: TrackedItem] = [:]
    /// Every item tracked: current, delta bases, and items still read or served.
    var items: [ItemID: TrackedItem] = [:]
    var sessions: [SessionID: PeerSession] = [:]
    var upstream: [UInt32: UpstreamRequest] = [:]
    /// Per session, the requests sent and not yet ended, and those waiting their turn
    /// (`SyncEngine+RequestQueue`).
    var requestQueues: [SessionID: RequestQueue] = [:]
    /// Chunks requested and not yet arrived, per item, by hash: the request bringing them.
    var requested: [ItemID: [ChunkHash: UInt32]] = [:]
    var jobs: [SessionID: [ServeJob]] = [:]
    let index: ChunkIndex
    var nextRequestID: UInt32 = 1
    /// Bytes of item data received from and sent to peers since start.
    public internal(set) var bytesFetched: UInt64 = 0
    public internal(set) var bytesServed: UInt64 = 0

    struct PeerSession {
        var helloReceived = false
        var peerDevice: DeviceID?
        /// The name the peer gave in its HELLO, for messages.
        var name = "the peer"
        var policy = PeerPolicy.open
        /// The highest fetch request id this peer used: ids must grow (protocol/sync.md).
        var lastFetchID: UInt32 = 0
        /// The newest offer sent per selection whose ACK has not come (an older one that is
        /// not answered was superseded, on the wire or before it).
        var unacknowledged: [Selection: ItemID] = [:]
        /// While ranges are asked of this peer: when its last fetched bytes came, or when
        /// the wait began (monotonic milliseconds).
        var fetchQuietSince: UInt64 = 0
    }

    /// `monotonicMilliseconds` times silences (stalled fetches); it defaults to the wall
    /// clock, which tests drive by hand.
    public init(deviceID: DeviceID, deviceName: String, maximumItemSize: UInt64, selections: Set<Selection>,
                lazyThreshold: UInt64 = 256 * 1024, chunkCacheBudget: Int = 32 << 20,
                wallMilliseconds: @escaping @Sendable () -> UInt64, monotonicMilliseconds: (@Sendable () -> UInt64)? = nil) {
        self.deviceID = deviceID
        self.deviceName = deviceName
        self.maximumItemSize = maximumItemSize
        self.selections = selections
        self.lazyThreshold = lazyThreshold
        self.wallMilliseconds = wallMilliseconds
        self.monotonicMilliseconds = monotonicMilliseconds ?? wallMilliseconds
        self.clock = HybridClock(wallMilliseconds: wallMilliseconds)
        index = ChunkIndex(cacheBudget: chunkCacheBudget)
    }

    // MARK: Queries

    /// The item a selection holds now, when all its bytes are here.
    public func currentItem(_ selection: Selection) -> ClipItem? { current[selection]?.held }

    /// The header of the item a selection holds now, held or not.
    public func currentHeader(_ selection: Selection) -> ItemHeader? { current[selection]?.header }

    /// Sessions whose peer has said hello.
    public var readySessions: [SessionID] { sessions.filter { $0.value.helloReceived }.map(\.key).sorted() }

    /// Bytes the chunk cache holds (not counting the chunks of held items).
    public var cachedChunkBytes: Int { index.cachedBytes }

    /// Bytes of the chunks pinned because an item holding them is current, pending or a
    /// delta base: at most those items' sizes, whatever came before them.
    public var pinnedChunkBytes: Int { index.pinnedBytes }

    // MARK: Sessions

    /// A session finished its handshake: say hello, then offer everything held that the
    /// peer's `policy` lets go to it, except its own items (catch-up).
    public func sessionOpened(_ session: SessionID, peer: DeviceID, policy: PeerPolicy = .open) -> [SyncAction] {
        sessions[session] = PeerSession(peerDevice: peer, policy: policy)
        var actions: [SyncAction] = [.send(session, .hello(.init(deviceName: deviceName, maximumItemSize: maximumItemSize)))]
        for selection in Selection.allCases {
            if let item = current[selection], item.id.origin != peer, policy.admitsToPeer(item.header) {
                actions.append(offering(item, on: session))
            }
        }
        return actions
    }

    /// The open sessions an item goes to: those whose peer's policy takes it, except its
    /// origin's (whose acknowledgements `clipd send --wait` waits for).
    public func recipients(of header: ItemHeader) -> [SessionID] {
        sessions.keys.sorted().filter { id in
            guard let s = sessions[id] else { return false }
            return s.peerDevice != header.id.origin && s.policy.admitsToPeer(header)
        }
    }

    /// A session ended (`reason`, when given, says why, for readers whose transfer fails):
    /// its ranges in flight move to other sources, what it was served is dropped.
    public func sessionClosed(_ session: SessionID, reason: String? = nil) -> [SyncAction] {
        let name = sessions.removeValue(forKey: session)?.name ?? "the peer"
        var actions: [SyncAction] = []
        for job in jobs.removeValue(forKey: session) ?? [] { actions += dropInterest(of: job) }
        for item in items.values { item.sources.removeAll { $0 == session } }
        for request in upstream.values.filter({ $0.session == session }).sorted(by: { $0.id < $1.id }) {
            actions += reassign(request, reason: "the connection to \(name) \(reason.map { "ended (\($0))" } ?? "closed")")
        }
        requestQueues[session] = nil
        for id in Array(items.keys) { dropIfUnused(id) }
        return actions
    }

    // MARK: Local copies

    /// The header of a new local item (a copy in a desktop application, or `clipd send`),
    /// with a clock reading newer than everything seen. Chunk it (`ItemChunking`) and
    /// `commitLocalCopy` it; items at most `inlineThreshold` bytes need no chunking.
    public func localHeader(selection: Selection, representations: [RepresentationInfo]) -> ItemHeader {
        let reading = clock.tick()
        // The counter is the clock reading: unique and increasing per device, across restarts too.
        return ItemHeader(selection: selection, id: ItemID(origin: deviceID, counter: reading.rawValue), clock: reading, representations: representations)
    }

    /// Makes a local item current and offers it to every ready session. Returns nothing when
    /// a newer item became current since its header was made (it lost, like an older copy).
    public func commitLocalCopy(_ item: ClipItem) -> [SyncAction] {
        let selection = item.selection
        if let held = current[selection], held.header.version > item.header.version { return [] }
        let tracked = TrackedItem(held: needsManifest(item) ? ItemChunking.chunked(header: item.header, data: item.data) : item, sources: [])
        return displacePending(selection) + makeCurrent(tracked, apply: false) + relay(tracked, except: nil)
    }

    /// A new local item in one call: header, chunking (on this thread) and commit.
    public func localCopy(selection: Selection, representations: [(mimeType: String, bytes: [UInt8])]) -> (ClipItem, [SyncAction]) {
        let header = localHeader(selection: selection, representations: representations.map { RepresentationInfo(mimeType: $0.mimeType, size: UInt64($0.bytes.count)) })
        let data = representations.count == 1 ? representations[0].bytes : representations.flatMap(\.bytes)
        let item = header.totalSize > UInt64(Self.inlineThreshold) ? ItemChunking.chunked(header: header, data: data) : ClipItem(header: header, data: data)
        return (item, commitLocalCopy(item))
    }

    private func needsManifest(_ item: ClipItem) -> Bool {
        item.manifest == nil && item.header.totalSize > UInt64(Self.inlineThreshold)
    }

    // MARK: Messages

    /// Handles one message received on a session.
    public func received(_ message: SessionMessage, on session: SessionID) -> [SyncAction] {
        guard var state = sessions[session] else { return [] }
        if case .hello(let hello) = message {
            guard hello.protocolVersion == SessionMessage.protocolVersion else {
                return [.close(session, reason: "the peer speaks sync protocol \(hello.protocolVersion), this daemon \(SessionMessage.protocolVersion): update clipd on both machines")]
            }
            state.helloReceived = true
            // The peer chose it: made printable, as it reaches readers' one-line errors.
            state.name = hello.deviceName.isEmpty ? "the peer" : DeviceIdentity.printableName(hello.deviceName)
            sessions[session] = state
            return []
        }
        guard state.helloReceived else { return [.close(session, reason: "message before hello")] }
        switch message {
        case .hello, .unknown, .ping, .pong:
            return []  // PING and PONG are the transport's (it answers pings itself)
        case .offer(let offer):
            return receivedOffer(offer, on: session)
        case .fetch(let fetch):
            guard fetch.requestID > state.lastFetchID else {
                return [.close(session, reason: "the peer reused or lowered fetch request id \(fetch.requestID)")]
            }
            sessions[session]?.lastFetchID = fetch.requestID
            return receivedFetch(fetch, on: session)
        case .data(let chunk):
            return receivedData(chunk, on: session)
        case .dataEnd(let end):
            return receivedEnd(end, on: session)
        case .fetchFailed(let failure):
            guard let request = upstream[failure.requestID], request.session == session, request.sent else { return [] }
            noteFetchProgress(on: session)
            // Busy or a relay's lost source is for now; not holding it (or a bad range) is for good.
            let forNow = failure.reason == .busy || failure.reason == .unavailable
            return reassign(request, reason: "\(state.name) could not send it (\(failure.reason))", dropSource: !forNow)
        case .cancel(let cancel):
            return receivedCancel(cancel, on: session)
        case .ack(let ack):
            if let selection = state.unacknowledged.first(where: { $0.value == ack.item })?.key {
                sessions[session]?.unacknowledged[selection] = nil
            }
            return [.acknowledged(ack.item, by: session, status: ack.status)]
        }
    }

    private func receivedOffer(_ offer: SessionMessage.Offer, on session: SessionID) -> [SyncAction] {
        let header = offer.header
        let selection = header.selection
        let ack = { (status: SessionMessage.Ack.Status) -> SyncAction in .send(session, .ack(.init(item: header.id, status: status))) }
        guard clock.observe(header.clock) else { return [ack(.clockAhead)] }
        guard selections.contains(selection) else { return [ack(.ignored)] }
        // An item claiming this daemon's origin was not made here: a forged id could shadow
        // a real copy of ours on every peer. And the peer's policy decides what it may send.
        guard header.id.origin != deviceID, sessions[session]?.policy.admitsFromPeer(header) ?? false else { return [ack(.refused)] }
        for known in [current[selection], pending[selection]].compactMap({ $0 }) {
            if known.id == header.id {
                if !known.sources.contains(session) { known.sources.append(session) }
                guard known === pending[selection] else { return [ack(.alreadyHeld)] }
                known.acksOnArrival.append(session)  // answered once the bytes are here
                return []
            }
            if known.header.version > header.version { return [ack(.superseded)] }
        }
        guard header.totalSize <= maximumItemSize else { return [ack(.tooLarge)] }
        var actions = displacePending(selection)
        if let data = offer.inlineData {
            let item = ClipItem(header: header, data: data)
            let tracked = TrackedItem(held: needsManifest(item) ? ItemChunking.chunked(header: header, data: data) : item, sources: [session])
            return actions + [ack(.applied)] + makeCurrent(tracked) + relay(tracked, except: session)
        }
        guard let manifest = offer.manifest else { return actions }
        let tracked = TrackedItem(header: header, manifest: manifest, sources: [session])
        completeFromIndex(tracked)
        if tracked.held != nil || header.totalSize > lazyThreshold {
            // Paste-ready now: its bytes are here, or are fetched when something reads them.
            return actions + [ack(.applied)] + makeCurrent(tracked) + relay(tracked, except: session)
        }
        // Small enough to fetch at once: current, relayed and acknowledged when its bytes are here.
        pending[selection] = tracked
        items[tracked.id] = tracked
        tracked.acksOnArrival = [session]
        actions += startAssembly(tracked)
        return actions
    }

    /// A newer item won over the one being fetched for `selection`: its fetch stops and the
    /// peers that offered it hear it was superseded.
    func displacePending(_ selection: Selection) -> [SyncAction] {
        guard let old = pending.removeValue(forKey: selection) else { return [] }
        var actions: [SyncAction] = old.acksOnArrival.filter { sessions[$0] != nil }.map {
            .send($0, .ack(.init(item: old.id, status: .superseded)))
        }
        old.acksOnArrival = []
        actions += abandonAssembly(old)
        dropIfUnused(old.id)
        return actions
    }

    /// A pending item's bytes are all here: it becomes current and goes to the other peers.
    func promotePending(_ item: TrackedItem) -> [SyncAction] {
        guard pending[item.header.selection] === item else { return [] }
        pending[item.header.selection] = nil
        return makeCurrent(item) + relay(item, except: item.sources.first)
    }

    // MARK: Current items

    /// `item` becomes its selection's current item (and, with `apply`, the backend's: a
    /// local copy is already the desktop's). The one it replaces becomes the selection's
    /// delta base when its bytes are here; an older base goes. A replaced item still waited
    /// for answers `superseded` to the peers that offered it.
    func makeCurrent(_ item: TrackedItem, apply: Bool = true) -> [SyncAction] {
        let selection = item.header.selection
        var actions: [SyncAction] = []
        items[item.id] = item
        if item.held == nil { completeFromIndex(item) }
        if let held = item.held { index.pin(held) }
        if let old = current[selection], old !== item {
            if old.held != nil {
                if let base = deltaBase[selection], base !== old {
                    deltaBase[selection] = nil
                    if let bytes = base.held { index.unpin(bytes) }
                    dropIfUnused(base.id)
                }
                deltaBase[selection] = old
            } else if old.readers == 0 {
                actions += abandonAssembly(old)
            }
            current[selection] = item
            dropIfUnused(old.id)
        } else {
            current[selection] = item
        }
        if apply { actions.append(.apply(item.header, held: item.held, from: item.sources.first)) }
        return actions
    }

    /// Forgets an item nothing refers to any more.
    func dropIfUnused(_ id: ItemID) {
        guard let item = items[id] else { return }
        let selection = item.header.selection
        guard current[selection] !== item, deltaBase[selection] !== item, pending[selection] !== item, item.readers == 0,
              !jobs.values.contains(where: { $0.contains { $0.item == id } }),
              !upstream.values.contains(where: { $0.item == id })
        else { return }
        items[id] = nil
        requested[id] = nil
    }

    // MARK: Relaying

    func relay(_ item: TrackedItem, except source: SessionID?) -> [SyncAction] {
        let message = offer(for: item)
        return sessions.keys.sorted().compactMap { id in
            // Our HELLO went out when the session opened, so offers may follow at once: an
            // item made before the peer's HELLO arrives is offered too, not left behind.
            guard id != source, let s = sessions[id], s.peerDevice != item.id.origin, s.policy.admitsToPeer(item.header) else { return nil }
            return offering(item, on: id, message: message)
        }
    }

    /// Sends an offer of `item` on `session`, which from then on waits for its ACK.
    func offering(_ item: TrackedItem, on session: SessionID, message: SessionMessage? = nil) -> SyncAction {
        sessions[session]?.unacknowledged[item.header.selection] = item.id
        return .send(session, message ?? offer(for: item))
    }

    func offer(for item: TrackedItem) -> SessionMessage {
        if let manifest = item.manifest { return .offer(.init(header: item.header, manifest: manifest)) }
        return .offer(.init(header: item.header, inlineData: item.held?.data ?? []))
    }

    func allocateRequestID() -> UInt32 {
        defer { nextRequestID = nextRequestID == UInt32.max ? 1 : nextRequestID + 1 }
        return nextRequestID
    }
}
