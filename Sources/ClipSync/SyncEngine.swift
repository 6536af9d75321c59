import ClipWire

/// The sync engine: which item each selection holds, which peer has offered what, which
/// fetches are under way. Pure logic: messages and local copies in, `SyncAction`s out.
///
/// Rules (protocol/sync.md):
/// - Versions are (hybrid clock, origin id); the greater wins everywhere (last writer wins).
/// - Every accepted item is offered on every other session, never back to the session it
///   came from nor to its origin; offers not newer than what is held are dropped, which
///   stops loops and duplicates by item identity, never by content.
/// - Items up to `inlineThreshold` bytes travel inside the offer; larger ones are fetched
///   at once, chunk by chunk, and applied only after the length and the item MAC match
///   (the session that carried the item verifies the MAC: `ItemVerifier`).
/// - Every offer is acknowledged with what became of it.
///
/// Not thread-safe: the daemon confines it to one event loop.
public final class SyncEngine {
    /// Items up to this many bytes travel inside their offer.
    public static let inlineThreshold = 64 * 1024

    public let deviceID: DeviceID
    public let maximumItemSize: UInt64
    public let selections: Set<Selection>
    public let deviceName: String

    private var clock: HybridClock
    private var current: [Selection: ClipItem] = [:]
    private var sessions: [SessionID: PeerSession] = [:]
    private var fetches: [Selection: PendingFetch] = [:]
    private var nextRequestID: UInt32 = 1

    struct PeerSession {
        var helloReceived = false
        var peerDevice: DeviceID?
        var verifier: ItemVerifier
    }

    struct PendingFetch {
        let header: ItemHeader
        var source: SessionID
        var requestID: UInt32
        var alternates: [SessionID]
        var received: [UInt8]
    }

    public init(deviceID: DeviceID, deviceName: String, maximumItemSize: UInt64, selections: Set<Selection>,
                wallMilliseconds: @escaping @Sendable () -> UInt64) {
        self.deviceID = deviceID
        self.deviceName = deviceName
        self.maximumItemSize = maximumItemSize
        self.selections = selections
        self.clock = HybridClock(wallMilliseconds: wallMilliseconds)
    }

    // MARK: Queries

    /// The item a selection holds now.
    public func currentItem(_ selection: Selection) -> ClipItem? { current[selection] }

    /// Sessions whose peer has said hello.
    public var readySessions: [SessionID] { sessions.filter { $0.value.helloReceived }.map(\.key).sorted() }


    // MARK: Sessions

    /// Checks a fetched item against the MAC its sender put in DATA_END: arguments are the
    /// request id, the item's bytes and the received MAC. Keyed by the session.
    public typealias ItemVerifier = (_ requestID: UInt32, _ data: [UInt8], _ mac: [UInt8]) -> Bool

    /// A session finished its handshake: say hello, then offer everything held (catch-up).
    public func sessionOpened(_ session: SessionID, peer: DeviceID, verifier: @escaping ItemVerifier) -> [SyncAction] {
        sessions[session] = PeerSession(peerDevice: peer, verifier: verifier)
        var actions: [SyncAction] = [.send(session, .hello(.init(deviceName: deviceName, maximumItemSize: maximumItemSize)))]
        for selection in Selection.allCases {
            if let item = current[selection] { actions.append(.send(session, offer(for: item))) }
        }
        return actions
    }

    /// A session ended. Partial fetches from it are discarded and retried elsewhere.
    public func sessionClosed(_ session: SessionID) -> [SyncAction] {
        sessions[session] = nil
        var actions: [SyncAction] = []
        for (selection, fetch) in fetches {
            if fetch.source == session {
                actions += retryOrAbandon(selection)
            } else if fetch.alternates.contains(session) {
                fetches[selection]?.alternates.removeAll { $0 == session }
            }
        }
        return actions
    }

    // MARK: Local copies

    /// A new local item (a copy in a desktop application, or `clipd send`). Returns its id
    /// and the actions, which offer it to every ready session.
    public func localCopy(selection: Selection, representations: [(mimeType: String, bytes: [UInt8])]) -> (ClipItem, [SyncAction]) {
        let clockReading = clock.tick()
        let infos = representations.map { RepresentationInfo(mimeType: $0.mimeType, size: UInt64($0.bytes.count)) }
        var data: [UInt8]
        if representations.count == 1 {
            data = representations[0].bytes  // shared, not copied: large items are common here
        } else {
            data = []
            data.reserveCapacity(representations.reduce(0) { $0 + $1.bytes.count })
            for r in representations { data += r.bytes }
        }
        // The counter is the clock reading: unique and increasing per device, across restarts too.
        let header = ItemHeader(selection: selection, id: ItemID(origin: deviceID, counter: clockReading.rawValue), clock: clockReading, representations: infos)
        let item = ClipItem(header: header, data: data)
        let displaced = abandonFetch(selection)  // a local copy is newer than anything being fetched
        current[selection] = item
        return (item, displaced + relay(item, except: nil))
    }

    // MARK: Messages

    /// Handles one message received on a session.
    public func received(_ message: SessionMessage, on session: SessionID) -> [SyncAction] {
        guard var state = sessions[session] else { return [] }
        if case .hello = message {
            state.helloReceived = true
            sessions[session] = state
            return []
        }
        guard state.helloReceived else { return [.close(session, reason: "message before hello")] }
        switch message {
        case .hello, .unknown:
            return []
        case .offer(let offer):
            return receivedOffer(offer, on: session)
        case .fetch(let fetch):
            return receivedFetch(fetch, on: session)
        case .data(let chunk):
            return receivedData(chunk, on: session)
        case .dataEnd(let end):
            return receivedEnd(end, on: session)
        case .fetchFailed(let failure):
            guard let selection = fetches.first(where: { $0.value.requestID == failure.requestID && $0.value.source == session })?.key else { return [] }
            return retryOrAbandon(selection)
        case .ack(let ack):
            return [.acknowledged(ack.item, by: session, status: ack.status)]
        }
    }

    private func receivedOffer(_ offer: SessionMessage.Offer, on session: SessionID) -> [SyncAction] {
        let header = offer.header
        clock.observe(header.clock)
        let ack = { (status: SessionMessage.Ack.Status) -> SyncAction in .send(session, .ack(.init(item: header.id, status: status))) }
        guard selections.contains(header.selection) else { return [ack(.ignored)] }
        if let held = current[header.selection] {
            if held.id == header.id { return [ack(.alreadyHeld)] }
            if held.header.version > header.version { return [ack(.superseded)] }
        }
        if let pending = fetches[header.selection] {
            if pending.header.id == header.id {
                if pending.source != session && !pending.alternates.contains(session) { fetches[header.selection]?.alternates.append(session) }
                return []
            }
            if pending.header.version > header.version { return [ack(.superseded)] }
        }
        guard header.totalSize <= maximumItemSize else { return [ack(.tooLarge)] }
        let displaced = abandonFetch(header.selection)
        if let data = offer.inlineData {
            return displaced + accept(ClipItem(header: header, data: data), from: session, alsoOfferedBy: [])
        }
        let requestID = allocateRequestID()
        fetches[header.selection] = PendingFetch(header: header, source: session, requestID: requestID, alternates: [],
                                                 received: LargeBuffer.reserve(capacity: Int(header.totalSize)))
        return displaced + [.send(session, .fetch(.init(requestID: requestID, item: header.id)))]
    }

    private func receivedFetch(_ fetch: SessionMessage.Fetch, on session: SessionID) -> [SyncAction] {
        guard let item = current.values.first(where: { $0.id == fetch.item }) else {
            return [.send(session, .fetchFailed(.init(requestID: fetch.requestID, reason: .notHeld)))]
        }
        return [.stream(session, requestID: fetch.requestID, item: item)]
    }

    private func receivedData(_ chunk: SessionMessage.DataChunk, on session: SessionID) -> [SyncAction] {
        guard let selection = fetchSelection(request: chunk.requestID, session: session) else {
            // Data for a fetch we abandoned (a newer item won meanwhile): ignore it.
            return []
        }
        guard var fetch = fetches.removeValue(forKey: selection) else { return [] }
        guard chunk.offset == UInt64(fetch.received.count),
              UInt64(fetch.received.count + chunk.bytes.count) <= fetch.header.totalSize
        else { return [.close(session, reason: "data chunk out of order or beyond the item's size")] }
        fetch.received.append(contentsOf: chunk.bytes)
        fetches[selection] = fetch
        return []
    }

    private func receivedEnd(_ end: SessionMessage.DataEnd, on session: SessionID) -> [SyncAction] {
        guard let selection = fetchSelection(request: end.requestID, session: session),
              let fetch = fetches.removeValue(forKey: selection), let verifier = sessions[session]?.verifier
        else { return [] }
        guard end.totalLength == fetch.header.totalSize, UInt64(fetch.received.count) == end.totalLength,
              verifier(end.requestID, fetch.received, end.mac)
        else {
            return [.send(session, .ack(.init(item: fetch.header.id, status: .failed))),
                    .close(session, reason: "fetched item \(fetch.header.id) failed its length or MAC check")]
        }
        let item = ClipItem(header: fetch.header, data: fetch.received)
        return accept(item, from: session, alsoOfferedBy: fetch.alternates)
    }

    // MARK: Helpers

    private func accept(_ item: ClipItem, from session: SessionID, alsoOfferedBy others: [SessionID]) -> [SyncAction] {
        current[item.selection] = item
        var actions: [SyncAction] = [.send(session, .ack(.init(item: item.id, status: .applied))), .apply(item, from: session)]
        for other in others where sessions[other] != nil {
            actions.append(.send(other, .ack(.init(item: item.id, status: .alreadyHeld))))
        }
        return actions + relay(item, except: session)
    }

    /// Drops the fetch under way for a selection because a newer item won; every peer that
    /// offered the loser hears it was superseded.
    private func abandonFetch(_ selection: Selection) -> [SyncAction] {
        guard let fetch = fetches.removeValue(forKey: selection) else { return [] }
        return ([fetch.source] + fetch.alternates).filter { sessions[$0] != nil }.map {
            .send($0, .ack(.init(item: fetch.header.id, status: .superseded)))
        }
    }

    private func relay(_ item: ClipItem, except source: SessionID?) -> [SyncAction] {
        let message = offer(for: item)
        return sessions.keys.sorted().compactMap { id in
            guard id != source, let s = sessions[id], s.helloReceived, s.peerDevice != item.id.origin else { return nil }
            return .send(id, message)
        }
    }

    private func offer(for item: ClipItem) -> SessionMessage {
        .offer(.init(header: item.header, inlineData: item.data.count <= Self.inlineThreshold ? item.data : nil))
    }

    private func fetchSelection(request: UInt32, session: SessionID) -> Selection? {
        fetches.first(where: { $0.value.requestID == request && $0.value.source == session })?.key
    }

    private func retryOrAbandon(_ selection: Selection) -> [SyncAction] {
        guard var fetch = fetches[selection] else { return [] }
        while let next = fetch.alternates.first {
            fetch.alternates.removeFirst()
            guard sessions[next] != nil else { continue }
            fetch.source = next
            fetch.requestID = allocateRequestID()
            fetch.received.removeAll(keepingCapacity: true)
            fetches[selection] = fetch
            return [.send(next, .fetch(.init(requestID: fetch.requestID, item: fetch.header.id)))]
        }
        fetches[selection] = nil
        return []
    }

    private func allocateRequestID() -> UInt32 {
        defer { nextRequestID = nextRequestID == UInt32.max ? 1 : nextRequestID + 1 }
        return nextRequestID
    }
}
