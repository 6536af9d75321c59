import ClipWire

/// Every chunk a daemon can hand out without fetching it, by hash: the chunks of the items
/// it holds (pinned while they are held) and a bounded cache of recently seen chunks (those
/// of items it no longer holds, and those it only relayed), evicted least recently used
/// first. What the cache holds never exceeds `cacheBudget` bytes.
///
/// Not thread-safe: owned by the engine.
final class ChunkIndex {
    /// Bytes the cache may hold, pinned chunks not counted.
    var cacheBudget: Int {
        didSet { evict() }
    }
    private var pinned: [ChunkHash: (bytes: ArraySlice<UInt8>, pins: Int)] = [:]
    /// The items whose chunks are pinned (each counted once in `pinned`).
    private var pinnedItems: Set<ItemID> = []
    private var cache: [ChunkHash: (bytes: ArraySlice<UInt8>, stamp: UInt64)] = [:]
    /// Cache entries oldest first, with the stamp they had when queued: an entry touched
    /// since is queued again and its older place is skipped.
    private var order: [(hash: ChunkHash, stamp: UInt64)] = []
    private var orderHead = 0
    private var clock: UInt64 = 0
    private(set) var cachedBytes = 0
    /// Bytes of the pinned chunks.
    var pinnedBytes: Int { pinned.values.reduce(0) { $0 + $1.bytes.count } }

    init(cacheBudget: Int) { self.cacheBudget = cacheBudget }

    /// The bytes of the chunk with `hash`, if any item held or the cache has them.
    func lookup(_ hash: ChunkHash) -> ArraySlice<UInt8>? {
        if let entry = pinned[hash] { return entry.bytes }
        guard let entry = cache[hash] else { return nil }
        touch(hash, entry.bytes)
        return entry.bytes
    }

    /// Keeps a verified chunk in the cache (a no-op when it is pinned or too large). The
    /// cache keeps a copy of its own: a slice would keep the whole buffer it lies in (an
    /// item, a received record) alive, and the budget would then bound nothing.
    func remember(_ hash: ChunkHash, _ bytes: ArraySlice<UInt8>) {
        guard pinned[hash] == nil, bytes.count <= cacheBudget else { return }
        if let old = cache[hash] {
            touch(hash, old.bytes)
            return
        }
        cachedBytes += bytes.count
        touch(hash, ArraySlice(Array(bytes)))
        evict()
    }

    /// The item's chunks stay available for as long as it is held. Pinning an item that is
    /// already pinned changes nothing: one `unpin` releases it, however many roles (pending,
    /// current, delta base) it passed through.
    func pin(_ item: ClipItem) {
        guard pinnedItems.insert(item.header.id).inserted else { return }
        forEachChunk(of: item) { hash, bytes in
            if let entry = pinned[hash] {
                pinned[hash] = (entry.bytes, entry.pins + 1)
            } else {
                if let cached = cache.removeValue(forKey: hash) { cachedBytes -= cached.bytes.count }
                pinned[hash] = (bytes, 1)
            }
        }
    }

    /// The item is no longer held: its chunks move to the cache (which may evict them).
    func unpin(_ item: ClipItem) {
        guard pinnedItems.remove(item.header.id) != nil else { return }
        forEachChunk(of: item) { hash, _ in
            guard let entry = pinned[hash] else { return }
            if entry.pins > 1 {
                pinned[hash] = (entry.bytes, entry.pins - 1)
            } else {
                pinned[hash] = nil
                remember(hash, entry.bytes)
            }
        }
    }

    private func forEachChunk(of item: ClipItem, _ body: (ChunkHash, ArraySlice<UInt8>) -> Void) {
        guard let manifest = item.manifest else { return }
        for (refs, pieces) in zip(manifest.representations, item.pieces) {
            for (ref, piece) in zip(refs, pieces) { body(ref.hash, piece) }
        }
    }

    private func touch(_ hash: ChunkHash, _ bytes: ArraySlice<UInt8>) {
        clock += 1
        cache[hash] = (bytes, clock)
        order.append((hash, clock))
        if order.count - orderHead > 2 * cache.count + 1024 {
            // Mostly stale places: queue the live entries again, oldest first.
            order = cache.map { ($0.key, $0.value.stamp) }.sorted { $0.1 < $1.1 }
            orderHead = 0
        }
    }

    private func evict() {
        while cachedBytes > cacheBudget, orderHead < order.count {
            let oldest = order[orderHead]
            orderHead += 1
            guard let entry = cache[oldest.hash], entry.stamp == oldest.stamp else { continue }
            cache[oldest.hash] = nil
            cachedBytes -= entry.bytes.count
        }
        if orderHead > 1024 && orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
        }
    }
}
