import ClipWire

// MARK: Fetching: assemblies, upstream requests, arriving chunks

extension SyncEngine {
    /// Starts gathering an item's bytes for local use: chunks already held anywhere are
    /// taken from there, the rest (each distinct chunk once) is asked of the item's sources.
    func startAssembly(_ item: TrackedItem) -> [SyncAction] {
        guard item.held == nil, let manifest = item.manifest else { return [] }
        if let assembly = item.assembly, assembly.failure == nil { return [] }
        var pieces: [[ArraySlice<UInt8>?]] = manifest.representations.map { Array(repeating: nil, count: $0.count) }
        var missing: [ChunkHash: [(representation: Int, index: Int)]] = [:]
        var wanted: [[Int]] = manifest.representations.map { _ in [] }
        var toFetch: UInt64 = 0
        for (rep, refs) in manifest.representations.enumerated() {
            for (k, ref) in refs.enumerated() {
                if let bytes = index.lookup(ref.hash) {
                    pieces[rep][k] = bytes
                } else {
                    if missing[ref.hash] == nil {
                        wanted[rep].append(k)
                        toFetch += UInt64(ref.size)
                    }
                    missing[ref.hash, default: []].append((rep, k))
                }
            }
        }
        item.assembly = Assembly(pieces: pieces, missing: missing, toFetch: toFetch, startedMilliseconds: wallMilliseconds())
        guard !missing.isEmpty else { return finishAssembly(item) }
        var actions: [SyncAction] = []
        for (rep, chunks) in wanted.enumerated() where !chunks.isEmpty {
            let (sent, unavailable) = request(item, representation: rep, chunks: chunks, assembly: true, job: nil)
            actions += sent
            if unavailable { return actions + failAssembly(item, reason: "no connected peer holds its bytes") }
        }
        return actions
    }

    /// An item whose every chunk is already held here (a re-offer, an undo) is complete at
    /// once, without a fetch.
    func completeFromIndex(_ item: TrackedItem) {
        guard let manifest = item.manifest else { return }
        var pieces: [[ArraySlice<UInt8>]] = []
        for refs in manifest.representations {
            var chunks: [ArraySlice<UInt8>] = []
            for ref in refs {
                guard let bytes = index.lookup(ref.hash) else { return }
                chunks.append(bytes)
            }
            pieces.append(chunks)
        }
        item.held = ClipItem(header: item.header, manifest: manifest, pieces: pieces)
    }

    private func finishAssembly(_ item: TrackedItem) -> [SyncAction] {
        guard let assembly = item.assembly, assembly.isComplete, let manifest = item.manifest else { return [] }
        let held = ClipItem(header: item.header, manifest: manifest, pieces: assembly.pieces.map { $0.map { $0! } })
        item.held = held
        item.assembly = nil
        let selection = item.header.selection
        if current[selection] === item || deltaBase[selection] === item || pending[selection] === item { index.pin(held) } else { index.remember(all: held) }
        var actions: [SyncAction] = [.readable(item.id)]
        for session in item.acksOnArrival where sessions[session] != nil {
            actions.append(.send(session, .ack(.init(item: item.id, status: .applied))))
        }
        item.acksOnArrival = []
        return actions + promotePending(item)
    }

    func failAssembly(_ item: TrackedItem, reason: String) -> [SyncAction] {
        guard let assembly = item.assembly else { return [] }
        item.assembly?.failure = "the \(item.header.selection) item's transfer failed: \(reason)"
        // What did arrive waits in the cache: a paste tried again once the path is back
        // fetches only the rest.
        if let manifest = item.manifest {
            for (refs, pieces) in zip(manifest.representations, assembly.pieces) {
                for (ref, piece) in zip(refs, pieces) { if let piece { index.remember(ref.hash, piece) } }
            }
        }
        var actions: [SyncAction] = [.readable(item.id)]
        for session in item.acksOnArrival where sessions[session] != nil {
            actions.append(.send(session, .ack(.init(item: item.id, status: .failed))))
        }
        item.acksOnArrival = []
        for request in upstream.values where request.item == item.id && request.forAssembly {
            actions += loseInterest(in: request.id, assembly: true, job: nil)
        }
        if pending[item.header.selection] === item {
            pending[item.header.selection] = nil  // the held item stays current
            dropIfUnused(item.id)
        }
        return actions
    }

    /// Stops gathering an item nobody waits for any more (a newer item won).
    func abandonAssembly(_ item: TrackedItem) -> [SyncAction] {
        guard item.assembly != nil else { return [] }
        item.assembly = nil
        var actions: [SyncAction] = []
        for request in upstream.values where request.item == item.id && request.forAssembly {
            actions += loseInterest(in: request.id, assembly: true, job: nil)
        }
        return actions
    }

    /// Asks a source of `item` (other than `excluding`) for `chunks` of `rep` (indices,
    /// ascending), except those already on their way, which the waiter joins. Contiguous
    /// chunks go in one request of at most `requestSpan` bytes. `unavailable` when no session
    /// can be asked.
    func request(_ item: TrackedItem, representation rep: Int, chunks: [Int], assembly: Bool, job: ServeJob.Key?,
                 excluding: SessionID? = nil) -> (actions: [SyncAction], unavailable: Bool) {
        guard let manifest = item.manifest else { return ([], true) }
        let refs = manifest.representations[rep]
        var runs: [Range<Int>] = []
        for k in chunks {
            if let pending = requested[item.id]?[refs[k].hash], upstream[pending] != nil {
                if assembly { upstream[pending]?.forAssembly = true }
                if let job { upstream[pending]?.forJobs.insert(job) }
                continue
            }
            let size = UInt64(refs[k].size)
            if let last = runs.last, last.upperBound == k, item.offsets[rep][k] + size - item.offsets[rep][last.lowerBound] <= Self.requestSpan {
                runs[runs.count - 1] = last.lowerBound..<k + 1
            } else {
                runs.append(k..<k + 1)
            }
        }
        guard !runs.isEmpty else { return ([], false) }
        guard let source = item.sources.first(where: { sessions[$0]?.helloReceived == true && $0 != job?.session && $0 != excluding }) else { return ([], true) }
        var actions: [SyncAction] = []
        for run in runs {
            let id = allocateRequestID()
            let start = item.offsets[rep][run.lowerBound]
            let length = item.offsets[rep][run.upperBound] - start
            for k in run { requested[item.id, default: [:]][refs[k].hash] = id }
            actions += enqueue(UpstreamRequest(id: id, session: source, item: item.id, representation: rep, chunks: run, start: start, length: length,
                                               nextChunk: run.lowerBound, forAssembly: assembly, forJobs: job.map { [$0] } ?? []))
        }
        return (actions, false)
    }

    /// A request's source is gone or refused: what it had not delivered is asked of another
    /// source, or its waiters learn it cannot be had. A source that does not hold the item
    /// (or is gone) stops being one; one that was busy or stalled stays, last in line, so a
    /// paste tried again later asks it again (it may be back by then).
    func reassign(_ request: UpstreamRequest, reason: String, dropSource: Bool = true) -> [SyncAction] {
        var actions = removeRequest(request.id)
        guard let item = items[request.item], let refs = item.manifest?.representations[request.representation] else { return actions }
        let remaining = Array(request.nextChunk..<request.chunks.upperBound)
        for k in remaining where requested[item.id]?[refs[k].hash] == request.id { requested[item.id]?[refs[k].hash] = nil }
        if item.sources.contains(request.session) {
            item.sources.removeAll { $0 == request.session }
            if !dropSource { item.sources.append(request.session) }
        }
        if request.forAssembly, let assembly = item.assembly, assembly.failure == nil {
            let stillMissing = remaining.filter { assembly.pieces[request.representation][$0] == nil }
            let (sent, unavailable) = self.request(item, representation: request.representation, chunks: stillMissing, assembly: true, job: nil,
                                                   excluding: request.session)
            actions += sent
            if unavailable { actions += failAssembly(item, reason: "\(reason), and no other connected peer holds it") }
        }
        for key in request.forJobs {
            guard let job = jobs[key.session]?.first(where: { $0.key == key }) else { continue }
            actions += ensureWindow(job)
        }
        dropIfUnused(item.id)
        return actions
    }

    /// The assembly or a serve job no longer waits for a request; a request nobody waits
    /// for is cancelled at its source.
    func loseInterest(in id: UInt32, assembly: Bool, job: ServeJob.Key?) -> [SyncAction] {
        guard var request = upstream[id] else { return [] }
        if assembly { request.forAssembly = false }
        if let job { request.forJobs.remove(job) }
        guard !request.forAssembly && request.forJobs.isEmpty else {
            upstream[id] = request
            return []
        }
        if let refs = items[request.item]?.manifest?.representations[request.representation] {
            for k in request.nextChunk..<request.chunks.upperBound where requested[request.item]?[refs[k].hash] == id {
                requested[request.item]?[refs[k].hash] = nil
            }
        }
        // One that never went out is only forgotten.
        let cancel: [SyncAction] = request.sent && sessions[request.session] != nil ? [.send(request.session, .cancel(.init(requestID: id)))] : []
        return cancel + removeRequest(id)
    }

    // MARK: Arriving bytes

    func receivedData(_ chunk: SessionMessage.DataChunk, on session: SessionID) -> [SyncAction] {
        // Bytes of a request given up on (a newer item won) are ignored.
        guard var request = upstream[chunk.requestID], request.session == session, request.sent else { return [] }
        noteFetchProgress(on: session)
        let count = UInt64(chunk.byteCount)
        guard chunk.offset == request.start + request.received, request.received + count <= request.length else {
            return [.close(session, reason: "data out of order or beyond the range asked for")]
        }
        guard let item = items[request.item], let refs = item.manifest?.representations[request.representation] else {
            return removeRequest(request.id)
        }
        request.received += count
        bytesFetched += count
        if request.forAssembly { item.assembly?.fetched += count }
        var actions: [SyncAction] = []
        var failure: String?
        for part in chunk.parts where failure == nil {
            var rest = part
            while !rest.isEmpty {
                let k = request.nextChunk
                let size = Int(refs[k].size)
                let bytes: ArraySlice<UInt8>
                if request.partial.isEmpty && rest.count >= size {
                    bytes = rest.prefix(size)  // the chunk lies in this record: no copy
                    rest = rest.dropFirst(size)
                } else {
                    if request.partial.isEmpty { request.partial.reserveCapacity(size) }
                    let take = min(size - request.partial.count, rest.count)
                    request.partial.append(contentsOf: rest.prefix(take))
                    rest = rest.dropFirst(take)
                    guard request.partial.count == size else { continue }
                    bytes = request.partial[...]
                    request.partial = []
                }
                guard ChunkHash.of(bytes) == refs[k].hash else {
                    failure = "chunk \(k) of item \(item.id) does not match its hash"
                    break
                }
                request.nextChunk += 1
                actions += chunkArrived(item, representation: request.representation, index: k, hash: refs[k].hash, bytes: bytes)
            }
        }
        if upstream[request.id] != nil { upstream[request.id] = request }
        if let failure { actions.append(.close(session, reason: failure)) }
        return actions
    }

    func receivedEnd(_ end: SessionMessage.DataEnd, on session: SessionID) -> [SyncAction] {
        guard let request = upstream[end.requestID], request.session == session, request.sent else { return [] }
        noteFetchProgress(on: session)
        guard end.length == request.length, request.received == request.length, request.nextChunk == request.chunks.upperBound else {
            return [.close(session, reason: "a range ended at \(request.received) of its \(request.length) bytes")]
        }
        let actions = removeRequest(end.requestID)
        dropIfUnused(request.item)
        return actions
    }

    /// A verified chunk: into the assembly waiting for it, to serve jobs a window ahead, and
    /// into the cache when nothing will hold it.
    private func chunkArrived(_ item: TrackedItem, representation rep: Int, index k: Int, hash: ChunkHash, bytes: ArraySlice<UInt8>) -> [SyncAction] {
        if requested[item.id]?[hash] != nil { requested[item.id]?[hash] = nil }
        var actions: [SyncAction] = []
        // The assembly is changed where it lies: copying it out would copy its tables for
        // every chunk.
        if item.assembly?.failure == nil, let places = item.assembly?.missing.removeValue(forKey: hash) {
            for place in places { item.assembly!.pieces[place.representation][place.index] = bytes }
            actions += item.assembly!.isComplete ? finishAssembly(item) : [.readable(item.id)]
        } else if item.held == nil {
            index.remember(hash, bytes)
        }
        let start = item.offsets[rep][k], end = item.offsets[rep][k + 1]
        for (session, list) in jobs {
            for job in list where job.item == item.id && job.representation == rep && item.assembly == nil && item.held == nil {
                guard end > job.position, start < job.end, start < job.position + Self.relayWindow + UInt64(ItemManifest.maximumChunkSize) else { continue }
                job.arrived[k] = bytes
                actions.append(.streamReady(session))
            }
        }
        return actions
    }
}

extension ChunkIndex {
    /// Keeps a held item's chunks in the cache (an item read but no longer current).
    func remember(all item: ClipItem) {
        guard let manifest = item.manifest else { return }
        for (refs, pieces) in zip(manifest.representations, item.pieces) {
            for (ref, piece) in zip(refs, pieces) { remember(ref.hash, piece) }
        }
    }
}
