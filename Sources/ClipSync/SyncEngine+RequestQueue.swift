import ClipWire

// MARK: How many ranges are asked of one peer at once

/// Per session: how many FETCHes are out and not yet ended, and the requests waiting their
/// turn, oldest first (ids grow in the order they go out, as protocol/sync.md requires).
struct RequestQueue {
    var outstanding = 0
    var waiting: [UInt32] = []
    var head = 0
}

extension SyncEngine {
    /// Most FETCHes out at once on one session: enough to keep a link busy (64 ranges of up
    /// to 16 MiB, or of single chunks in a scattered delta), and well under what a peer
    /// queues for one session (`maximumQueuedFetches`), so an honest daemon is never told
    /// busy.
    public static let maximumOutstandingFetches = 64

    /// Takes a new request: it goes out now if its session has room, else when ranges ahead
    /// of it end.
    func enqueue(_ request: UpstreamRequest) -> [SyncAction] {
        upstream[request.id] = request
        requestQueues[request.session, default: RequestQueue()].waiting.append(request.id)
        return sendWaiting(on: request.session)
    }

    /// Sends the waiting requests of `session` that fit under the limit.
    func sendWaiting(on session: SessionID) -> [SyncAction] {
        guard sessions[session] != nil, var queue = requestQueues[session] else { return [] }
        var actions: [SyncAction] = []
        while queue.outstanding < Self.maximumOutstandingFetches && queue.head < queue.waiting.count {
            let id = queue.waiting[queue.head]
            queue.head += 1
            guard var request = upstream[id], !request.sent else { continue }  // dropped while waiting
            if queue.outstanding == 0 { sessions[session]?.fetchQuietSince = monotonicMilliseconds() }  // a wait on this peer begins
            request.sent = true
            upstream[id] = request
            queue.outstanding += 1
            actions.append(.send(session, .fetch(.init(requestID: id, item: request.item, representation: UInt8(request.representation),
                                                       offset: request.start, length: request.length))))
        }
        if queue.head > 1024 && queue.head * 2 > queue.waiting.count {
            queue.waiting.removeFirst(queue.head)
            queue.head = 0
        }
        requestQueues[session] = queue
        return actions
    }

    /// Forgets a request (ended, refused, cancelled, moved elsewhere); one that was out makes
    /// room for the next waiting on its session.
    func removeRequest(_ id: UInt32) -> [SyncAction] {
        guard let request = upstream.removeValue(forKey: id) else { return [] }
        guard request.sent else { return [] }
        requestQueues[request.session]?.outstanding -= 1
        return sendWaiting(on: request.session)
    }
}
