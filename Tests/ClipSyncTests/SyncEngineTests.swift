import ClipSync
import ClipTestSupport
import ClipWire
import Testing

@Suite("Sync engine (in-memory mesh, no sockets)")
struct SyncEngineTests {
    @Test func copyReachesPeerAndIsAcknowledged() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        let item = mesh.copy(at: "a", "hello")
        mesh.run()
        #expect(mesh.text(at: "b") == "hello")
        #expect(mesh.applied["b"]?.count == 1)
        #expect(mesh.acks["a"]?.map(\.0) == [item.id])
        #expect(mesh.acks["a"]?.first?.1 == .applied)
        #expect(mesh.applied["a"] == nil, "a local copy is already the desktop's, and its echo is never applied")
    }

    /// Found by the lossy-link fault test: a copy made after a session opened but before the
    /// peer's HELLO arrived was relayed to nobody (only to sessions that had said hello), so
    /// that peer never got it. Our own HELLO is already out, so the offer may follow at once.
    @Test func aCopyMadeBeforeThePeersHelloArrivesStillReachesIt() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.copy(at: "a", "before b's hello")  // nothing delivered yet
        mesh.run()
        #expect(mesh.text(at: "b") == "before b's hello")
        #expect(mesh.acks["a"]?.last?.1 == .applied)
    }

    @Test func anItemUnderTheLazyThresholdIsFetchedAtOnceAndAcknowledgedWhenHere() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        let bytes = pattern(200_000)
        let item = mesh.copy(at: "a", bytes: bytes, mimeType: "application/octet-stream")
        #expect(item.manifest != nil, "over the inline threshold: offered with its manifest")
        mesh.run()
        #expect(mesh.engines["b"]!.currentItem(.clipboard)?.data == bytes, "fetched without anyone reading it")
        #expect(mesh.acks["a"]?.last?.1 == .applied)
    }

    @Test func aLargeItemIsOnlyAnnouncedUntilSomethingReadsIt() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        let big = pattern(3 << 20)
        let item = mesh.copy(at: "a", bytes: big, mimeType: "application/octet-stream")
        mesh.run()
        #expect(mesh.engines["b"]!.currentHeader(.clipboard)?.id == item.id, "b owns the item at once")
        #expect(mesh.engines["b"]!.currentItem(.clipboard) == nil, "but holds none of its bytes")
        #expect(mesh.count("data", from: "a") == 0 && mesh.count("fetch", from: "b") == 0)
        #expect(mesh.acks["a"]?.last?.1 == .applied, "acknowledged as paste-ready")
        #expect(mesh.read(at: "b") == big)
        #expect(mesh.count("data", from: "a") >= 12, "streamed in records of at most 256 KiB")
        #expect(mesh.engines["b"]!.currentItem(.clipboard)?.data == big, "held after the read")
    }

    @Test func anItemLargerThanOneRequestIsReadWhole() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        let big = pattern(20 << 20)
        mesh.copy(at: "a", bytes: big, mimeType: "application/octet-stream")
        mesh.run()
        #expect(mesh.read(at: "b").map { byteDifference($0, big) } == .some(nil))
        #expect(mesh.count("fetch", from: "b") == 2, "16 MiB a request")
    }

    @Test func aReadIsServedChunkByChunkAsTheBytesArrive() throws {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        let big = pattern(4 << 20)
        mesh.copy(at: "a", bytes: big, mimeType: "application/octet-stream")
        mesh.run()
        let engine = mesh.engines["b"]!
        let id = try #require(engine.currentHeader(.clipboard)?.id)
        let (known, actions) = engine.beginRead(id)
        #expect(known)
        mesh.perform(actions, at: "b")
        #expect(engine.read(id, representation: 0, offset: 0) == .pending)
        mesh.run(limit: 3)  // the fetch reaches a and the first record comes back
        guard case .bytes(let first) = engine.read(id, representation: 0, offset: 0) else { Issue.record("no bytes after the first record"); return }
        #expect(first.elementsEqual(big.prefix(first.count)))
        #expect(engine.read(id, representation: 0, offset: UInt64(big.count - 1)) == .pending, "the end has not arrived yet")
        mesh.run()
        #expect(engine.read(id, representation: 0, offset: UInt64(big.count)) == .end)
        mesh.perform(engine.endRead(id), at: "b")
    }

    @Test func aChunkThatDoesNotMatchItsHashEndsTheSessionAndNothingIsApplied() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "b", "keep me")
        mesh.run()
        mesh.corruptData = true
        mesh.copy(at: "a", bytes: pattern(200_000))
        mesh.run()
        #expect(mesh.closed["b"]?.first?.contains("does not match its hash") == true)
        #expect(mesh.text(at: "b") == "keep me", "the corrupted item is never held, and the held one stays")
    }

    @Test func editingTheMiddleOfALargeItemFetchesOnlyTheChunksAroundTheEdit() throws {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        var text = lorem(8 << 20)
        mesh.copy(at: "a", bytes: text)
        mesh.run()
        #expect(mesh.read(at: "b") == text)
        let before = mesh.engines["b"]!.bytesFetched
        text.insert(contentsOf: Array("an edit in the middle".utf8), at: text.count / 2)
        text.removeSubrange(text.count / 3..<text.count / 3 + 100)
        mesh.wallClock += 10
        mesh.copy(at: "a", bytes: text)
        mesh.run()
        #expect(mesh.read(at: "b") == text)
        let fetched = mesh.engines["b"]!.bytesFetched - before
        #expect(fetched < UInt64(text.count) / 20, "fetched \(fetched) of \(text.count) bytes again")
        #expect(fetched > 0)
    }

    @Test func aChunkRepeatedInsideAnItemIsFetchedOnce() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        let zeros = [UInt8](repeating: 0, count: 16 << 20)
        mesh.copy(at: "a", bytes: zeros, mimeType: "application/octet-stream")
        mesh.run()
        #expect(mesh.read(at: "b") == zeros)
        #expect(mesh.engines["b"]!.bytesFetched <= 256 * 1024, "one maximum-size chunk repeated 64 times")
    }

    @Test func aRelayPassesALargeItemOnWithoutHoldingIt() {
        let mesh = InMemoryMesh()
        mesh.add("guest"); mesh.add("host", chunkCacheBudget: 2 << 20); mesh.add("laptop")
        mesh.connect("guest", "host"); mesh.connect("host", "laptop")
        mesh.run()
        let big = pattern(12 << 20)
        mesh.copy(at: "guest", bytes: big, mimeType: "application/octet-stream")
        mesh.run()
        #expect(mesh.engines["laptop"]!.currentHeader(.clipboard) != nil)
        #expect(mesh.read(at: "laptop") == big)
        let host = mesh.engines["host"]!
        #expect(host.currentItem(.clipboard) == nil, "the relay never holds the whole item")
        #expect(host.cachedChunkBytes <= 2 << 20, "its cache stays within its budget")
        #expect(host.bytesFetched == UInt64(big.count), "and fetched each byte once")
    }

    @Test func aRelayFetchesAWindowAheadOfWhatItsPeerTook() throws {
        let mesh = InMemoryMesh()
        mesh.add("guest"); mesh.add("host", chunkCacheBudget: 1 << 20); mesh.add("laptop")
        mesh.connect("guest", "host"); mesh.connect("host", "laptop")
        mesh.run()
        mesh.copy(at: "guest", bytes: pattern(32 << 20), mimeType: "application/octet-stream")
        mesh.run()
        // The laptop asks for everything, but nobody pulls the host's stream to it: the host
        // fetches one window and waits.
        let laptop = mesh.engines["laptop"]!
        let id = try #require(laptop.currentHeader(.clipboard)?.id)
        let (_, actions) = laptop.beginRead(id)
        mesh.perform(actions, at: "laptop")
        while !mesh.queue.isEmpty || mesh.streaming.contains(where: { $0.name != "host" }) {
            mesh.streaming.removeAll { $0.name == "host" }
            mesh.run(limit: 1)
        }
        let fetched = mesh.engines["host"]!.bytesFetched
        #expect(fetched <= SyncEngine.relayWindow + 512 * 1024, "the host fetched \(fetched) bytes ahead of its peer")
        #expect(fetched > 0)
    }

    @Test func aFetchMovesToAnotherSourceWhenItsSourceDrops() {
        let mesh = InMemoryMesh()
        for n in ["a", "b", "c"] { mesh.add(n) }
        mesh.connect("a", "b"); mesh.connect("a", "c")
        mesh.run()
        let bytes = pattern(3 << 20)
        mesh.copy(at: "a", bytes: bytes)
        mesh.run()
        #expect(mesh.read(at: "b") == bytes)
        #expect(mesh.read(at: "c") == bytes)
        // d hears of the item from b and c; b vanishes mid-transfer; c serves the rest.
        mesh.add("d")
        let viaB = mesh.connect("d", "b")
        mesh.connect("d", "c")
        mesh.run()
        let d = mesh.engines["d"]!
        let id = d.currentHeader(.clipboard)!.id
        mesh.perform(d.beginRead(id).1, at: "d")
        mesh.run(limit: 6)
        mesh.disconnect(viaB)
        mesh.run()
        #expect(d.currentItem(.clipboard)?.data == bytes)
        mesh.perform(d.endRead(id), at: "d")
    }

    @Test func aReadFailsInOneLineWhenNoPeerHoldsTheBytes() throws {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        let link = mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", bytes: pattern(1 << 20))
        mesh.run()
        mesh.disconnect(link)
        let b = mesh.engines["b"]!
        let id = try #require(b.currentHeader(.clipboard)?.id)
        _ = b.beginRead(id)
        guard case .failed(let reason) = b.read(id, representation: 0, offset: 0) else { Issue.record("expected a failure"); return }
        #expect(reason.contains("no connected peer holds"))
    }

    @Test func aNewerOfferSupersedesAFetchUnderWayAndCancelsIt() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b", lazyThreshold: 64 << 20)
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", bytes: pattern(8 << 20))
        mesh.run(limit: 4)  // offer delivered, fetch sent, streaming begun
        mesh.wallClock += 1
        mesh.copy(at: "a", "newer small")
        mesh.run()
        #expect(mesh.text(at: "b") == "newer small")
        #expect(mesh.count("cancel", from: "b") >= 1)
        #expect(mesh.count("data", from: "a") < 32, "the superseded stream stopped early")
        #expect(mesh.acks["a"]?.contains { $0.1 == .superseded } == true)
    }

    @Test func concurrentCopiesConvergeOnOneWinnerEverywhere() {
        let mesh = InMemoryMesh()
        for n in ["a", "b", "c"] { mesh.add(n) }
        mesh.connect("a", "b"); mesh.connect("b", "c"); mesh.connect("a", "c")
        mesh.run()
        // Same wall-clock millisecond on every machine: the origin id breaks the tie.
        mesh.copy(at: "a", "from a")
        mesh.copy(at: "c", "from c")
        mesh.copy(at: "b", "from b")
        mesh.run()
        let winner = mesh.text(at: "a")
        #expect(winner != nil)
        #expect(mesh.text(at: "b") == winner && mesh.text(at: "c") == winner)
    }

    @Test func laterCopyWinsEvenWithSkewedClocks() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        mesh.wallClock += 60_000  // a's copy carries a clock a minute ahead
        mesh.copy(at: "a", "first")
        mesh.run()
        mesh.wallClock -= 60_000  // b's wall clock is behind, but b has seen a's reading
        mesh.copy(at: "b", "second")
        mesh.run()
        #expect(mesh.text(at: "a") == "second" && mesh.text(at: "b") == "second")
    }

    @Test func relaysThroughAMiddlePeerWithoutLoops() {
        let mesh = InMemoryMesh()
        for n in ["a", "b", "c", "d"] { mesh.add(n) }
        mesh.connect("a", "b"); mesh.connect("b", "c"); mesh.connect("c", "d")
        mesh.run()
        let before = mesh.delivered
        mesh.copy(at: "a", "chain")
        mesh.run()
        #expect(mesh.text(at: "d") == "chain")
        // One offer and one ack per hop: nothing bounces back.
        #expect(mesh.delivered - before == 6)
    }

    @Test func fullMeshStaysBounded() {
        let mesh = InMemoryMesh()
        let names = ["a", "b", "c", "d", "e"]
        for n in names { mesh.add(n) }
        for i in 0..<names.count { for j in (i + 1)..<names.count { mesh.connect(names[i], names[j]) } }
        mesh.run()
        for round in 0..<5 { mesh.copy(at: names[round], "round \(round)"); mesh.run(limit: 5_000) }
        #expect(mesh.queue.isEmpty, "messages still circulating: a loop")
        for n in names { #expect(mesh.text(at: n) == "round 4") }
    }

    /// Found by `make soak`: an item fetched at once (between the inline and the lazy
    /// thresholds) was pinned twice, when its bytes were complete and again when it became
    /// current, and unpinned once, so every such item's chunks (and the records they were
    /// sliced from) stayed in memory for good.
    @Test func chunksOfItemsNoLongerHeldAreNotPinned() {
        let mesh = InMemoryMesh()
        mesh.add("a")
        mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        var random = TestRandom(state: 7)
        var largest = 0
        for n in 0..<40 {
            let size = [2_000, 60_000, 200_000, 400_000][n % 4]  // inline, fetched at once, lazy
            let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            mesh.copy(at: n % 3 == 0 ? "b" : "a", bytes: bytes, mimeType: "application/octet-stream")
            mesh.run()
            largest = max(largest, size)
        }
        for name in ["a", "b"] {
            let engine = mesh.engines[name]!
            // The current item and its delta base, at most.
            #expect(engine.pinnedChunkBytes <= 2 * largest, "\(name) pins \(engine.pinnedChunkBytes) bytes")
        }
    }

    @Test func catchUpOnConnect() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.copy(at: "a", "made while apart")
        mesh.copy(at: "a", "primary too", selection: .primary)
        mesh.connect("a", "b")
        mesh.run()
        #expect(mesh.text(at: "b") == "made while apart")
        #expect(mesh.text(at: "b", .primary) == "primary too")
    }

    @Test func reconnectDoesNotReapplyWhatIsHeld() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        let link = mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", "once")
        mesh.run()
        mesh.disconnect(link)
        mesh.connect("a", "b")
        mesh.run()
        #expect(mesh.applied["b"]?.count == 1)
        #expect(mesh.acks["a"]?.last?.1 == .alreadyHeld)
    }

    @Test func aLazyItemCanBeReadAgainOnceItsSourceComesBack() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        let link = mesh.connect("a", "b")
        mesh.run()
        let big = pattern(1 << 20)
        mesh.copy(at: "a", bytes: big)
        mesh.run()
        mesh.disconnect(link)
        #expect(mesh.read(at: "b") == nil)
        mesh.connect("a", "b")  // a's catch-up offer names it again: a is a source once more
        mesh.run()
        #expect(mesh.read(at: "b") == big)
    }

    @Test func selectionsAreKeptApart() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", "clip")
        mesh.copy(at: "a", "prim", selection: .primary)
        mesh.run()
        #expect(mesh.text(at: "b") == "clip" && mesh.text(at: "b", .primary) == "prim")
    }

    @Test func selectionNotSyncedIsIgnored() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b", selections: [.clipboard])
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", "prim", selection: .primary)
        mesh.run()
        #expect(mesh.text(at: "b", .primary) == nil)
        #expect(mesh.acks["a"]?.last?.1 == .ignored)
    }

    @Test func oversizedItemIsRefusedWithAnAck() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b", maximumItemSize: 1000)
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", bytes: [UInt8](repeating: 1, count: 1001))
        mesh.run()
        #expect(mesh.engines["b"]!.currentHeader(.clipboard) == nil)
        #expect(mesh.acks["a"]?.last?.1 == .tooLarge)
    }

    @Test func messageBeforeHelloClosesTheSession() {
        let mesh = InMemoryMesh()
        mesh.add("a")
        let engine = mesh.engines["a"]!
        _ = engine.sessionOpened(SessionID(99), peer: DeviceID(bytes: Array(repeating: 1, count: 16)))
        let actions = engine.received(.cancel(.init(requestID: 1)), on: SessionID(99))
        guard case .close = actions.first else { Issue.record("expected close, got \(actions)"); return }
    }

    @Test func aPeerOfAnotherProtocolVersionIsClosedWithAReason() {
        let mesh = InMemoryMesh()
        mesh.add("a")
        let engine = mesh.engines["a"]!
        _ = engine.sessionOpened(SessionID(5), peer: DeviceID(bytes: Array(repeating: 1, count: 16)))
        let actions = engine.received(.hello(.init(protocolVersion: 1, deviceName: "old", maximumItemSize: 1)), on: SessionID(5))
        guard case .close(_, let reason) = actions.first else { Issue.record("expected close, got \(actions)"); return }
        #expect(reason.contains("update clipd"))
    }

    /// A peer session driven by hand, with the engine under test on the other side.
    private func handDriven(_ name: String = "b") -> (SyncEngine, SessionID, DeviceID) {
        let mesh = InMemoryMesh()
        mesh.add(name)
        let engine = mesh.engines[name]!
        let session = SessionID(7)
        let peer = DeviceID(bytes: Array(repeating: 0xaa, count: 16))
        _ = engine.sessionOpened(session, peer: peer)
        _ = engine.received(.hello(.init(deviceName: "peer", maximumItemSize: 1 << 30)), on: session)
        return (engine, session, peer)
    }

    @Test func outOfOrderDataClosesAndKeepsTheHeldItem() throws {
        let (engine, session, peer) = handDriven()
        _ = engine.localCopy(selection: .clipboard, representations: [("text/plain", Array("held".utf8))])
        let bytes = pattern(100_000)
        let item = ItemChunking.chunked(header: ItemHeader(selection: .clipboard, id: ItemID(origin: peer, counter: 1),
                                                         clock: HybridTimestamp(milliseconds: 1_700_000_100_000, logical: 0),
                                                         representations: [RepresentationInfo(mimeType: "text/plain", size: 100_000)]), data: bytes)
        let actions = engine.received(.offer(.init(header: item.header, manifest: item.manifest!)), on: session)
        let fetch = try #require(actions.compactMap { action -> SessionMessage.Fetch? in
            if case .send(_, .fetch(let f)) = action { return f } else { return nil }
        }.first)
        #expect(fetch.offset == 0 && fetch.length == 100_000)
        let bogus = engine.received(.data(.init(requestID: fetch.requestID, offset: 500, bytes: [1][...])), on: session)
        guard case .close = try #require(bogus.first) else { Issue.record("expected close, got \(bogus)"); return }
        #expect(engine.currentItem(.clipboard)?.data == Array("held".utf8))
    }

    @Test func aReusedFetchRequestIDClosesTheSession() {
        let (engine, session, _) = handDriven()
        let (item, _) = engine.localCopy(selection: .clipboard, representations: [("text/plain", Array("held".utf8))])
        let fetch = SessionMessage.Fetch(requestID: 9, item: item.id, representation: 0, offset: 0, length: 4)
        #expect(engine.received(.fetch(fetch), on: session).contains { if case .streamReady = $0 { true } else { false } })
        let again = engine.received(.fetch(fetch), on: session)
        guard case .close = again.first else { Issue.record("expected close, got \(again)"); return }
    }

    @Test func aRangeOutsideTheItemIsRefused() {
        let (engine, session, _) = handDriven()
        let (item, _) = engine.localCopy(selection: .clipboard, representations: [("text/plain", Array("held".utf8))])
        for (n, (rep, offset, length)) in [(0, 3, 2), (1, 0, 1), (0, 0, 0), (0, UInt64.max, 2)].enumerated() {
            let actions = engine.received(.fetch(.init(requestID: UInt32(n + 1), item: item.id, representation: UInt8(rep), offset: UInt64(offset), length: UInt64(length))), on: session)
            guard case .send(_, .fetchFailed(let failure)) = actions.first else { Issue.record("expected fetch-failed, got \(actions)"); continue }
            #expect(failure.reason == .badRange)
        }
    }

    @Test func aServedRangeIsExactlyTheBytesAskedFor() throws {
        let (engine, session, _) = handDriven()
        let bytes = pattern(700_000)
        let (item, _) = engine.localCopy(selection: .clipboard, representations: [("application/octet-stream", bytes)])
        _ = engine.received(.fetch(.init(requestID: 1, item: item.id, representation: 0, offset: 123_457, length: 400_000)), on: session)
        var received: [UInt8] = []
        var ended = false
        while case (let message?, _) = engine.nextStreamMessage(on: session) {
            switch message {
            case .data(let data):
                #expect(data.offset == 123_457 + UInt64(received.count))
                #expect(data.byteCount <= SyncEngine.dataRecordPayload)
                received += data.bytes
            case .dataEnd(let end):
                #expect(end.length == 400_000)
                ended = true
            default: Issue.record("unexpected \(message)")
            }
        }
        #expect(ended && received == Array(bytes[123_457..<523_457]))
    }

    @Test func hybridClockNeverGoesBackwards() {
        final class Wall: @unchecked Sendable { var now: UInt64 = 1000 }  // test thread only
        let wall = Wall()
        var now = wall.now
        var clock = HybridClock(wallMilliseconds: { wall.now })
        var last = clock.tick()
        for step in 0..<100 {
            now = step % 3 == 0 ? now - 5 : now + 1
            wall.now = now
            if step % 7 == 0 { clock.observe(HybridTimestamp(milliseconds: now + 50, logical: 9)) }
            let t = clock.tick()
            #expect(t > last)
            last = t
        }
    }
}

func pattern(_ count: Int) -> [UInt8] { TestData.pattern(count) }
func lorem(_ count: Int) -> [UInt8] { TestData.text(count) }
