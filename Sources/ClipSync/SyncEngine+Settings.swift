import ClipWire

extension SyncEngine {
    /// The policy a session runs under now, or nil for a session the engine does not know.
    public func policy(of session: SessionID) -> PeerPolicy? { sessions[session]?.policy }

    /// Replaces a session's policy while it stays open (a reload of peers.toml, `clipd peers
    /// set`, pause and resume). From now on every path obeys the new policy: offers received,
    /// relays, fetches served. What the new policy lets go to the peer and the old one did
    /// not (the current items) is offered at once, as at catch-up, so a peer switched from
    /// `off` to `both` holds what this daemon holds; nothing already sent is taken back.
    public func updatePolicy(_ session: SessionID, _ policy: PeerPolicy) -> [SyncAction] {
        guard let state = sessions[session] else { return [] }
        let old = state.policy
        sessions[session]?.policy = policy
        var actions: [SyncAction] = []
        for selection in Selection.allCases {
            guard let item = current[selection], item.id.origin != state.peerDevice else { continue }
            if policy.admitsToPeer(item.header) && !old.admitsToPeer(item.header) {
                actions.append(offering(item, on: session))
            }
        }
        return actions
    }

    /// Changes the limits a reload may change. A smaller maximum refuses larger offers from
    /// now on (items already held stay); the lazy threshold applies to offers that arrive
    /// afterwards; a smaller cache budget evicts at once.
    public func updateLimits(maximumItemSize: UInt64, lazyThreshold: UInt64, chunkCacheBudget: Int) {
        self.maximumItemSize = maximumItemSize
        self.lazyThreshold = lazyThreshold
        index.cacheBudget = chunkCacheBudget
    }
}
