import ClipWire

// MARK: Serving ranges to peers

extension SyncEngine {
    /// Most ranges one session may have queued here: a FETCH beyond it is answered busy
    /// (honest daemons keep `maximumOutstandingFetches` out). Serving walks a session's
    /// queue, so this also bounds what one step costs, however many FETCHes a peer sends.
    public static let maximumQueuedFetches = 256

    func receivedFetch(_ fetch: SessionMessage.Fetch, on session: SessionID) -> [SyncAction] {
        let fail = { (reason: SessionMessage.FetchFailed.Reason) -> [SyncAction] in
            [.send(session, .fetchFailed(.init(requestID: fetch.requestID, reason: reason)))]
        }
        guard (jobs[session]?.count ?? 0) < Self.maximumQueuedFetches else { return fail(.busy) }
        // What the peer's policy keeps from it is not held, as far as it can tell.
        guard let item = items[fetch.item], sessions[session]?.policy.admitsToPeer(item.header) ?? false else { return fail(.notHeld) }
        let rep = Int(fetch.representation)
        guard rep < item.header.representations.count, fetch.length >= 1 else { return fail(.badRange) }
        let (end, overflow) = fetch.offset.addingReportingOverflow(fetch.length)
        guard !overflow, end <= item.header.representations[rep].size else { return fail(.badRange) }
        let job = ServeJob(key: .init(session: session, requestID: fetch.requestID), item: item.id, representation: rep,
                           start: fetch.offset, end: end, now: wallMilliseconds(), monotonicNow: monotonicMilliseconds())
        jobs[session, default: []].append(job)
        return ensureWindow(job) + [.streamReady(session)]
    }

    func receivedCancel(_ cancel: SessionMessage.Cancel, on session: SessionID) -> [SyncAction] {
        guard let list = jobs[session], let job = list.first(where: { $0.key.requestID == cancel.requestID }) else { return [] }
        jobs[session] = list.filter { $0 !== job }
        let actions = dropInterest(of: job)
        dropIfUnused(job.item)
        return actions
    }

    /// A job that is gone no longer waits for the requests fetching its window.
    func dropInterest(of job: ServeJob) -> [SyncAction] {
        var actions: [SyncAction] = []
        for request in upstream.values where request.forJobs.contains(job.key) {
            actions += loseInterest(in: request.id, assembly: false, job: job.key)
        }
        return actions
    }

    /// Makes sure the chunks of the job's next window are here or on their way; a job
    /// whose bytes nobody can send any more fails. Only a session's first job that must
    /// fetch does so, so a peer asking for many ranges at once still gets one window.
    func ensureWindow(_ job: ServeJob) -> [SyncAction] {
        guard let item = items[job.item], item.held == nil, let manifest = item.manifest else { return [] }
        guard jobs[job.key.session]?.first(where: { items[$0.item]?.held == nil }) === job else { return [] }
        let refs = manifest.representations[job.representation]
        var wanted: [Int] = []
        var k = item.chunkIndex(representation: job.representation, containing: job.position)
        let horizon = min(job.end, job.position + Self.relayWindow)
        while k < refs.count && item.offsets[job.representation][k] < horizon {
            if item.ownChunk(representation: job.representation, index: k) == nil && job.arrived[k] == nil && index.lookup(refs[k].hash) == nil {
                wanted.append(k)
            }
            k += 1
        }
        guard !wanted.isEmpty else { return [] }
        let (actions, unavailable) = request(item, representation: job.representation, chunks: wanted, assembly: false, job: job.key)
        guard unavailable else { return actions }
        jobs[job.key.session]?.removeAll { $0 === job }
        let reason: SessionMessage.FetchFailed.Reason = job.position == job.start ? .notHeld : .unavailable
        return actions + dropInterest(of: job) + [.send(job.key.session, .fetchFailed(.init(requestID: job.key.requestID, reason: reason)))]
    }

    /// The next DATA or DATA_END to send on `session`, if any is ready, plus what sending it
    /// sets off (fetching the window beyond it). The transport calls this for as long as it
    /// can take more; after nil it waits for the next `.streamReady`.
    public func nextStreamMessage(on session: SessionID) -> (SessionMessage?, [SyncAction]) {
        guard let queued = jobs[session]?.count else { return (nil, []) }
        // By index, without a copy of the list in hand: removing a job then edits the list
        // in place instead of copying it.
        for position in 0..<queued {
            let job = jobs[session]![position]
            if job.position == job.end {
                jobs[session]!.remove(at: position)
                if jobs[session]!.isEmpty { jobs[session] = nil }
                var actions = dropInterest(of: job)
                dropIfUnused(job.item)
                if let next = jobs[session]?.first(where: { items[$0.item]?.held == nil }) { actions += ensureWindow(next) }
                return (.dataEnd(.init(requestID: job.key.requestID, length: job.end - job.start)), actions)
            }
            let (parts, count) = gather(job)
            guard count > 0 else { continue }  // waiting for its source
            let offset = job.position
            job.position += UInt64(count)
            job.lastSentMilliseconds = monotonicMilliseconds()
            // What we asked of this peer may queue behind these bytes: not a stall of its own.
            noteFetchProgress(on: session)
            bytesServed += UInt64(count)
            return (.data(.init(requestID: job.key.requestID, offset: offset, parts: parts)), ensureWindow(job))
        }
        return (nil, [])
    }

    /// The bytes of the job's next record: whole chunks up to `dataRecordPayload` (so a
    /// receiver finds each chunk inside one record), from wherever they are here.
    private func gather(_ job: ServeJob) -> ([ArraySlice<UInt8>], Int) {
        guard let item = items[job.item] else { return ([], 0) }
        let rep = job.representation
        var parts: [ArraySlice<UInt8>] = []
        var total = 0
        var position = job.position
        while total < Self.dataRecordPayload && position < job.end {
            let piece: ArraySlice<UInt8>
            if let manifest = item.manifest {
                let k = item.chunkIndex(representation: rep, containing: position)
                let chunkStart = item.offsets[rep][k], chunkEnd = item.offsets[rep][k + 1]
                guard let bytes = item.ownChunk(representation: rep, index: k) ?? job.arrived[k] ?? index.lookup(manifest.representations[rep][k].hash) else { break }
                let from = bytes.startIndex + Int(position - chunkStart)
                piece = bytes[from..<(bytes.startIndex + Int(min(chunkEnd, job.end) - chunkStart))]
                if position + UInt64(piece.count) >= chunkEnd { job.arrived[k] = nil }
            } else {
                guard let rest = item.held?.piece(representation: rep, at: position) else { break }
                piece = rest.prefix(Int(job.end - position))
            }
            if total > 0 && total + piece.count > Self.dataRecordPayload { break }
            let taken = piece.prefix(Self.dataRecordPayload - total)
            parts.append(taken)
            total += taken.count
            position += UInt64(taken.count)
        }
        return (parts, total)
    }
}

// MARK: Local reads and status

extension SyncEngine {
    /// A local reader (a paste, `clipd recv`) starts reading an item: its bytes are fetched
    /// now if they are not here. Balance with `endRead`. False when the item is unknown.
    public func beginRead(_ id: ItemID) -> (Bool, [SyncAction]) {
        guard let item = items[id] else { return (false, []) }
        item.readers += 1
        return (true, startAssembly(item))
    }

    /// The reader is done (finished, or gone).
    public func endRead(_ id: ItemID) -> [SyncAction] {
        guard let item = items[id] else { return [] }
        item.readers = max(0, item.readers - 1)
        var actions: [SyncAction] = []
        if item.readers == 0 && current[item.header.selection] !== item && item.held == nil { actions = abandonAssembly(item) }
        dropIfUnused(id)
        return actions
    }

    /// Bytes of representation `rep` from `offset` on, as far as they are here in one piece.
    public func read(_ id: ItemID, representation rep: Int, offset: UInt64) -> ReadOutcome {
        guard let item = items[id], rep < item.header.representations.count else { return .failed("the item is no longer here") }
        guard offset < item.header.representations[rep].size else { return .end }
        if let held = item.held { return held.piece(representation: rep, at: offset).map { .bytes($0) } ?? .end }
        guard let assembly = item.assembly else { return .failed("the item's transfer was abandoned") }
        let k = item.chunkIndex(representation: rep, containing: offset)
        if let bytes = assembly.pieces[rep][k] { return .bytes(bytes[(bytes.startIndex + Int(offset - item.offsets[rep][k]))...]) }
        if let failure = assembly.failure { return .failed(failure) }
        return .pending
    }

    /// Transfers under way: items gathered for local use, and ranges served to peers.
    public var transfers: [TransferStatus] {
        let now = wallMilliseconds(), monotonicNow = monotonicMilliseconds()
        var out: [TransferStatus] = []
        for item in items.values {
            guard let assembly = item.assembly, assembly.failure == nil, let source = upstream.values.first(where: { $0.item == item.id })?.session else { continue }
            out.append(TransferStatus(item: item.id, selection: item.header.selection, direction: .receiving, session: source,
                                      done: assembly.fetched, total: assembly.toFetch, elapsedMilliseconds: now &- assembly.startedMilliseconds,
                                      quietMilliseconds: fetchQuietMilliseconds(source) ?? 0))
        }
        for (session, list) in jobs {
            for job in list {
                guard let item = items[job.item] else { continue }
                out.append(TransferStatus(item: job.item, selection: item.header.selection, direction: .sending, session: session,
                                          done: job.position - job.start, total: job.end - job.start, elapsedMilliseconds: now &- job.startedMilliseconds,
                                          quietMilliseconds: monotonicNow &- job.lastSentMilliseconds))
            }
        }
        return out.sorted { ($0.session, $0.direction == .sending ? 1 : 0) < ($1.session, $1.direction == .sending ? 1 : 0) }
    }
}
