import ClipSync
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
        #expect(mesh.applied["a"] == nil, "the origin never applies its own echo")
    }

    @Test func largeItemIsFetchedInChunksAndVerified() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        let big = (0..<(3 * 1024 * 1024 + 17)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        mesh.copy(at: "a", bytes: big, mimeType: "application/octet-stream")
        mesh.run()
        #expect(mesh.engines["b"]!.currentItem(.clipboard)?.data == big)
        #expect(mesh.engines["b"]!.currentItem(.clipboard)?.bytes(of: "application/octet-stream")?.count == big.count)
        #expect(mesh.delivered > 12, "expected several DATA chunks, got \(mesh.delivered) messages")
    }

    @Test func corruptedMACIsNeverApplied() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "b", "keep me")
        mesh.run()
        mesh.corruptDigests = true
        mesh.copy(at: "a", bytes: [UInt8](repeating: 7, count: 200_000))
        mesh.run()
        #expect(mesh.text(at: "b") == "keep me", "nothing corrupted applied, nothing held lost")
        #expect(mesh.closed["b"]?.count == 1)
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
        #expect(mesh.engines["b"]!.currentItem(.clipboard) == nil)
        #expect(mesh.acks["a"]?.last?.1 == .tooLarge)
    }

    @Test func messageBeforeHelloClosesTheSession() {
        let mesh = InMemoryMesh()
        mesh.add("a")
        let engine = mesh.engines["a"]!
        _ = engine.sessionOpened(SessionID(99), peer: DeviceID(bytes: Array(repeating: 1, count: 16)), verifier: InMemoryMesh.verify)
        let actions = engine.received(.fetch(.init(requestID: 1, item: ItemID(origin: engine.deviceID, counter: 1))), on: SessionID(99))
        guard case .close = actions.first else { Issue.record("expected close, got \(actions)"); return }
    }

    @Test func outOfOrderDataClosesAndKeepsTheHeldItem() throws {
        let mesh = InMemoryMesh()
        mesh.add("b")
        let engine = mesh.engines["b"]!
        _ = engine.localCopy(selection: .clipboard, representations: [("text/plain", Array("held".utf8))])
        let session = SessionID(7)
        let peer = DeviceID(bytes: Array(repeating: 0xaa, count: 16))
        _ = engine.sessionOpened(session, peer: peer, verifier: InMemoryMesh.verify)
        _ = engine.received(.hello(.init(deviceName: "peer", maximumItemSize: 1 << 30)), on: session)
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: peer, counter: 1),
                                clock: HybridTimestamp(milliseconds: 1_800_000_000_000, logical: 0),
                                representations: [RepresentationInfo(mimeType: "text/plain", size: 100_000)])
        let actions = engine.received(.offer(.init(header: header, inlineData: nil)), on: session)
        guard case .send(_, .fetch(let fetch)) = try #require(actions.first) else { Issue.record("expected a fetch, got \(actions)"); return }
        #expect(engine.received(.data(.init(requestID: fetch.requestID, offset: 0, bytes: [1, 2, 3][...])), on: session).isEmpty)
        let bogus = engine.received(.data(.init(requestID: fetch.requestID, offset: 500, bytes: [1][...])), on: session)
        guard case .close = try #require(bogus.first) else { Issue.record("expected close, got \(bogus)"); return }
        #expect(String(decoding: engine.currentItem(.clipboard)!.data, as: UTF8.self) == "held")
    }

    @Test func fetchMovesToAnotherPeerWhenTheSourceDrops() {
        let mesh = InMemoryMesh()
        for n in ["a", "b", "c"] { mesh.add(n) }
        mesh.connect("a", "b"); mesh.connect("a", "c")
        mesh.run()
        mesh.copy(at: "a", bytes: [UInt8](repeating: 9, count: 300_000))
        mesh.run()
        #expect(mesh.engines["b"]!.currentItem(.clipboard)?.data.count == 300_000)
        // d hears of the item from b and c; b vanishes mid-fetch; c serves it.
        mesh.add("d")
        let viaB = mesh.connect("d", "b")
        mesh.connect("d", "c")
        mesh.run(limit: 4)  // hellos and both offers delivered, fetch sent to one of them
        mesh.disconnect(viaB)
        mesh.run()
        #expect(mesh.engines["d"]!.currentItem(.clipboard)?.data.count == 300_000)
    }

    @Test func newerOfferSupersedesAFetchUnderWay() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", bytes: [UInt8](repeating: 1, count: 500_000))
        mesh.run(limit: 2)  // offer delivered, fetch queued
        mesh.wallClock += 1
        mesh.copy(at: "a", "newer small")
        mesh.run()
        #expect(mesh.text(at: "b") == "newer small")
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
