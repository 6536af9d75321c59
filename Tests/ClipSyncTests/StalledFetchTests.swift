import ClipSync
import ClipTestSupport
import ClipWire
import Testing

/// A peer that goes silent while something waits on it (protocol/sync.md, Liveness): the
/// engine knows what waits on each peer, gives up on ranges that bring no bytes for
/// `fetchStallMilliseconds`, and moves them to another source or fails them in one line.
/// Driven by the mesh's hand-set clock.
@Suite("Sync engine: stalled fetches and what waits on a peer")
struct StalledFetchTests {
    let mesh = InMemoryMesh()
    let stall = SyncEngine.fetchStallMilliseconds

    /// A 3 MiB item made at `origin`, offered to `reader` (lazily: above 256 KiB).
    func lazyItem(at origin: String, reaching reader: String) -> [UInt8] {
        let bytes = TestData.pattern(3 << 20, seed: 4)
        mesh.copy(at: origin, bytes: bytes, mimeType: "application/octet-stream")
        mesh.run()
        #expect(mesh.engines[reader]!.currentItem(.clipboard) == nil, "the item should be held lazily")
        return bytes
    }

    /// Starts a read at `name` and lets the network run; returns the item read.
    func beginRead(at name: String) -> ItemID {
        let engine = mesh.engines[name]!
        let id = engine.currentHeader(.clipboard)!.id
        let (known, actions) = engine.beginRead(id)
        #expect(known)
        mesh.perform(actions, at: name)
        mesh.run()
        return id
    }

    /// Engines a and b, connected, with a lazily offered item of a's known to b.
    private func aLinkedToBWithALazyItem() -> (link: InMemoryMesh.Link, bytes: [UInt8]) {
        mesh.add("a")
        mesh.add("b")
        let link = mesh.connect("a", "b")
        mesh.run()
        return (link, lazyItem(at: "a", reaching: "b"))
    }

    @Test func anIdleSessionAwaitsNothingAndNoFetchDeadlineRuns() {
        mesh.add("a")
        mesh.add("b")
        let link = mesh.connect("a", "b")
        mesh.run()
        #expect(!mesh.engines["a"]!.awaitsPeer(link.sessionAtA))
        #expect(mesh.engines["a"]!.nextFetchDeadline == nil)
        // An offer waits for its ACK, and no longer once it came.
        mesh.copy(at: "a", "hello")
        #expect(mesh.engines["a"]!.awaitsPeer(link.sessionAtA))
        mesh.run()
        #expect(!mesh.engines["a"]!.awaitsPeer(link.sessionAtA))
        #expect(!mesh.engines["b"]!.awaitsPeer(link.sessionAtB))
    }

    @Test func aSilentOnlySourceFailsTheReadInOneLineAfterTheStallLimit() throws {
        let (link, bytes) = aLinkedToBWithALazyItem()
        mesh.silent = ["a"]
        let b = mesh.engines["b"]!
        let id = beginRead(at: "b")
        #expect(b.awaitsPeer(link.sessionAtB), "a range is asked of a")
        let deadline = try #require(b.nextFetchDeadline)
        #expect(b.read(id, representation: 0, offset: 0) == .pending)
        // Just before the limit nothing happens; at it, the read fails and says why.
        mesh.wallClock += stall - 1
        #expect(b.expireStalledFetches().isEmpty)
        #expect(b.read(id, representation: 0, offset: 0) == .pending)
        mesh.wallClock += 1
        #expect(mesh.wallClock >= deadline)
        mesh.perform(b.expireStalledFetches(), at: "b")
        guard case .failed(let reason) = b.read(id, representation: 0, offset: 0) else {
            Issue.record("the read did not fail")
            return
        }
        #expect(reason.contains("no data from a for 30 s"), "\(reason)")
        #expect(!reason.contains("\n"))
        #expect(b.nextFetchDeadline == nil, "nothing is fetched any more")
        #expect(mesh.count("cancel", from: "b") >= 1, "the silent peer is told to stop")
        mesh.perform(b.endRead(id), at: "b")
        // The peer speaks again on the same session (a stall is not a disconnect): the same
        // paste, tried again, is served by it (the fault test over 20 % loss found it was
        // no longer asked: "no connected peer holds its bytes").
        mesh.silent = []
        #expect(mesh.read(at: "b") == bytes)
    }

    @Test func aNameThePeerChoseReachesTheErrorPrintable() throws {
        mesh.add("evil\u{1b}]0;x\u{07}")
        mesh.add("b")
        mesh.connect("evil\u{1b}]0;x\u{07}", "b")
        mesh.run()
        _ = lazyItem(at: "evil\u{1b}]0;x\u{07}", reaching: "b")
        mesh.silent = ["evil\u{1b}]0;x\u{07}"]
        let b = mesh.engines["b"]!
        let id = beginRead(at: "b")
        mesh.wallClock += stall
        mesh.perform(b.expireStalledFetches(), at: "b")
        guard case .failed(let reason) = b.read(id, representation: 0, offset: 0) else {
            Issue.record("the read did not fail")
            return
        }
        #expect(reason.contains("no data from evil?]0;x? for 30 s"), "\(reason.debugDescription)")
        mesh.perform(b.endRead(id), at: "b")
    }

    @Test func aSilentSourceIsReplacedByAnotherThatHoldsTheItem() throws {
        mesh.add("a")
        mesh.add("b")
        mesh.add("c")
        mesh.connect("a", "c")
        mesh.connect("a", "b")
        mesh.run()
        let bytes = lazyItem(at: "a", reaching: "b")
        // c holds the bytes too, and offers the item to b: b has two sources.
        #expect(mesh.read(at: "c") == bytes)
        mesh.connect("c", "b")
        mesh.run()
        mesh.silent = ["a"]
        let b = mesh.engines["b"]!
        let id = beginRead(at: "b")
        #expect(b.read(id, representation: 0, offset: 0) == .pending, "the first source is asked first")
        mesh.wallClock += stall
        mesh.perform(b.expireStalledFetches(), at: "b")
        mesh.run()
        var out: [UInt8] = []
        while case .bytes(let piece) = b.read(id, representation: 0, offset: UInt64(out.count)) { out += piece }
        #expect(out == bytes, "c served what a did not")
        mesh.perform(b.endRead(id), at: "b")
    }

    @Test func bytesThatKeepComingAreNoStall() throws {
        _ = aLinkedToBWithALazyItem()
        let b = mesh.engines["b"]!
        let id = b.currentHeader(.clipboard)!.id
        let (_, actions) = b.beginRead(id)
        mesh.perform(actions, at: "b")
        // Each record comes just inside the limit after the one before: the deadline moves
        // with them, so the transfer, however slow, is never given up on.
        var steps = 0
        while b.isFetching && steps < 10_000 {
            let before = b.bytesFetched
            while b.bytesFetched == before && b.isFetching && steps < 10_000 {
                mesh.run(limit: 1)
                steps += 1
            }
            mesh.wallClock += stall - 1
            #expect(b.expireStalledFetches().isEmpty)
        }
        #expect(b.currentItem(.clipboard) != nil || b.read(id, representation: 0, offset: 0) != .pending)
        if case .failed(let reason) = b.read(id, representation: 0, offset: 0) { Issue.record("failed: \(reason)") }
        mesh.perform(b.endRead(id), at: "b")
    }

    @Test func aFailedReadKeepsWhatArrivedSoATryLaterFetchesOnlyTheRest() throws {
        let (link, bytes) = aLinkedToBWithALazyItem()
        let b = mesh.engines["b"]!
        let id = b.currentHeader(.clipboard)!.id
        let (_, actions) = b.beginRead(id)
        mesh.perform(actions, at: "b")
        // About a third arrives, then a goes silent and the read fails.
        var steps = 0
        while (b.transfers.first?.done ?? 0) < 1 << 20 && steps < 10_000 {
            mesh.run(limit: 1)
            steps += 1
        }
        mesh.silent = ["a"]
        mesh.run()
        mesh.wallClock += stall
        mesh.perform(b.expireStalledFetches(), at: "b")
        mesh.perform(b.endRead(id), at: "b")
        let before = b.bytesFetched
        #expect(before > 0 && before < UInt64(bytes.count))
        // a is back (the session was dialled again: a new one), and the paste is tried again.
        mesh.silent = []
        mesh.disconnect(link)
        mesh.connect("a", "b")
        mesh.run()
        #expect(mesh.read(at: "b") == bytes)
        #expect(b.bytesFetched - before < UInt64(bytes.count), "fetched \(b.bytesFetched - before) bytes again of \(bytes.count)")
    }
}
