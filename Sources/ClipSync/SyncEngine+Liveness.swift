import ClipWire

// MARK: What waits on a peer, and fetches that stopped

extension SyncEngine {
    /// How long a peer that is asked for ranges may send none of their bytes before they
    /// are asked of another source, or fail (protocol/sync.md, Liveness).
    public static let fetchStallMilliseconds: UInt64 = 30_000

    /// Whether something waits on the peer of `session`: a range asked of it, or the ACK
    /// of an offer made to it. Only such a session's silence means anything; an idle one
    /// is left alone (no timer runs for it). Nor is a peer judged while this engine streams
    /// ranges to it: its answers, and our PING, may queue behind those bytes on a slow
    /// link (a dead peer's connection is ended by TCP's user timeout instead).
    public func awaitsPeer(_ session: SessionID) -> Bool {
        guard let state = sessions[session], jobs[session] == nil else { return false }
        return !state.unacknowledged.isEmpty || upstream.values.contains { $0.session == session }
    }

    /// Whether any range is being fetched from any peer.
    public var isFetching: Bool { !upstream.isEmpty }

    /// When, in monotonic milliseconds, the earliest fetch becomes stalled if no bytes come
    /// before then; nil when nothing is fetched. The owner wakes then and calls
    /// `expireStalledFetches`.
    public var nextFetchDeadline: UInt64? {
        fetchingSessions.compactMap { sessions[$0].map { $0.fetchQuietSince + Self.fetchStallMilliseconds } }.min()
    }

    /// Gives up on the ranges of every peer that sent none of their bytes for
    /// `fetchStallMilliseconds`: each is cancelled at that peer and asked of another source;
    /// with none left, its readers learn the transfer failed, and why. The session itself
    /// stays: its peer may be alive and merely unable to serve (a relay whose own source
    /// stalled), which the session's liveness check tells apart.
    public func expireStalledFetches() -> [SyncAction] {
        let now = monotonicMilliseconds()
        var actions: [SyncAction] = []
        for session in fetchingSessions.sorted() {
            guard let state = sessions[session], now &- state.fetchQuietSince >= Self.fetchStallMilliseconds else { continue }
            let seconds = (now &- state.fetchQuietSince) / 1000
            // Nothing more goes out to it: what waited for its turn there moves on too.
            if var queue = requestQueues[session] {
                queue.head = queue.waiting.count
                requestQueues[session] = queue
            }
            for id in upstream.values.filter({ $0.session == session }).map(\.id).sorted() {
                guard let request = upstream[id] else { continue }  // reassigned meanwhile
                if request.sent { actions.append(.send(session, .cancel(.init(requestID: id)))) }
                actions += reassign(request, reason: "no data from \(state.name) for \(seconds) s", dropSource: false)
            }
        }
        return actions
    }

    /// Bytes of a fetched range (or its end, or its refusal) came from the peer.
    func noteFetchProgress(on session: SessionID) {
        sessions[session]?.fetchQuietSince = monotonicMilliseconds()
    }

    /// Sessions that ranges are asked of now.
    private var fetchingSessions: Set<SessionID> { Set(upstream.values.map(\.session)) }

    /// Milliseconds since the peer of `session` last sent bytes of a range asked of it,
    /// while some are; nil when nothing is asked of it.
    func fetchQuietMilliseconds(_ session: SessionID) -> UInt64? {
        guard let state = sessions[session], upstream.values.contains(where: { $0.session == session }) else { return nil }
        return monotonicMilliseconds() &- state.fetchQuietSince
    }
}
