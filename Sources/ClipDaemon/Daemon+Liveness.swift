import ClipSync
import NIOCore

// MARK: Stalled fetches and silent peers

extension Daemon {
    /// Whether something waits on the peer of session `id` (its `SessionLiveness` asks):
    /// the engine's ranges and offers, or a `clipd send --wait`.
    func sessionAwaitsPeer(_ id: SessionID) -> Bool {
        engine.awaitsPeer(id) || control.waits.waitsForAcknowledgement(from: id)
    }

    /// Keeps one timer for stalled fetches while anything is fetched, and none otherwise.
    /// Armed at the earliest deadline; when it fires, stalled ranges move on (or fail) and
    /// it is armed again at the next deadline, which bytes arriving meanwhile pushed back:
    /// a transfer that flows wakes it once a stall period at most.
    func watchFetches() {
        guard engine.isFetching, !stopped else {
            fetchWatch?.cancel()
            fetchWatch = nil
            return
        }
        guard fetchWatch == nil, let deadline = engine.nextFetchDeadline else { return }
        let wait = deadline > Self.monotonicMilliseconds() ? deadline - Self.monotonicMilliseconds() : 0
        fetchWatch = loop.scheduleTask(in: .milliseconds(Int64(wait))) { [self] in
            fetchWatch = nil
            hub.perform(engine.expireStalledFetches())  // and arms it again, through perform
        }
    }
}

// MARK: What status and doctor say about them

extension Daemon {
    /// A transfer whose bytes stopped moving for this long is shown as stalled.
    static let stallShownAfterMilliseconds: UInt64 = 5_000

    /// Why a transfer looks stalled, in words (nil while its bytes move).
    func stallNote(_ transfer: TransferStatus) -> String? {
        guard transfer.quietMilliseconds >= Self.stallShownAfterMilliseconds else { return nil }
        let seconds = transfer.quietMilliseconds / 1000, name = peerName(of: transfer.session)
        switch transfer.direction {
        case .receiving:
            return "stalled: no data from \(name) for \(seconds) s (another source is tried, or the transfer fails, at \(SyncEngine.fetchStallMilliseconds / 1000) s)"
        case .sending:
            return "stalled: \(name) has taken nothing for \(seconds) s"
        }
    }

    /// Connected peers silent while work waits on them, with a line saying so.
    func silentPeers() -> [(name: String, text: String)] {
        connections.values.compactMap { connection in
            guard let liveness = connection.liveness, let silence = liveness.silence, silence >= SessionLiveness.probeAfter else { return nil }
            let seconds = silence.nanoseconds / 1_000_000_000
            let limit = (SessionLiveness.probeAfter + SessionLiveness.answerWithin).nanoseconds / 1_000_000_000
            let state = liveness.isProbing ? "asked whether it is there, no answer yet" : "probing"
            return (connection.sessionName, "peer \(connection.sessionName): no data for \(seconds) s while waiting on it (\(state); the session is dropped and dialled again after \(limit) s)")
        }.sorted { $0.name < $1.name }
    }
}
