import ClipCrypto
import ClipSync
import ClipTestSupport
import ClipWire
import Testing

/// Issue 19, finding 1: how many ranges one peer may have queued here, and how many this
/// engine asks of one peer at once.
@Suite("Sync engine: bounded fetch queues")
struct FetchQueueTests {
    let mallory = DeviceID(bytes: Array(SHA256.hash(Array("mallory".utf8)).prefix(16)))
    let session = SessionID(7)

    @Test func fetchesBeyondTheQueueAreAnsweredBusy() throws {
        let engine = SyncEngine(deviceID: DeviceID(bytes: Array(repeating: 1, count: 16)), deviceName: "self", maximumItemSize: 64 << 20,
                                selections: [.clipboard], wallMilliseconds: { 1_700_000_000_000 })
        _ = engine.sessionOpened(session, peer: mallory)
        _ = engine.received(.hello(.init(deviceName: "mallory", maximumItemSize: 1 << 20)), on: session)
        let (item, _) = engine.localCopy(selection: .clipboard, representations: [("application/octet-stream", TestData.pattern(1 << 20))])
        var busy = 0, queued = 0
        let total = SyncEngine.maximumQueuedFetches + 100
        for id in 1...UInt32(total) {
            let actions = engine.received(.fetch(.init(requestID: id, item: item.header.id, representation: 0, offset: 0, length: 1)), on: session)
            if actions.contains(where: { if case .send(_, .fetchFailed(let f)) = $0 { f.reason == .busy } else { false } }) { busy += 1 } else { queued += 1 }
        }
        #expect(queued == SyncEngine.maximumQueuedFetches)
        #expect(busy == 100)
        // Served in turn; the queue empties, and it takes FETCHes again.
        var ends = 0
        while case (let message?, _) = engine.nextStreamMessage(on: session) { if case .dataEnd = message { ends += 1 } }
        #expect(ends == SyncEngine.maximumQueuedFetches)
        let again = engine.received(.fetch(.init(requestID: UInt32(total) + 1, item: item.header.id, representation: 0, offset: 0, length: 1)), on: session)
        #expect(!again.contains(where: { if case .send(_, .fetchFailed) = $0 { true } else { false } }))
    }

    /// A scattered delta asks for many separate ranges: at most
    /// `maximumOutstandingFetches` are out at once, the rest follow as those end, and the
    /// read completes.
    @Test func manyRangesGoOutAFewAtATimeAndTheReadCompletes() throws {
        let mesh = InMemoryMesh()
        mesh.add("a", maximumItemSize: 256 << 20, lazyThreshold: 0)
        mesh.add("b", maximumItemSize: 256 << 20, lazyThreshold: 0)
        mesh.connect("a", "b")
        mesh.run()
        // b holds a base of 100 blocks of several chunks each; the new item puts 1 KiB of
        // fresh bytes after each block, so what b lacks (the chunks around each insertion)
        // lies in about a hundred separate runs.
        let blocks = (0..<100).map { TestData.pattern(256 << 10, seed: UInt64($0) + 1) }
        mesh.copy(at: "a", bytes: blocks.flatMap { $0 }, mimeType: "application/octet-stream")
        mesh.run()
        #expect(mesh.read(at: "b") != nil)
        let interleaved = blocks.enumerated().flatMap { $0.element + TestData.pattern(1 << 10, seed: 1000 + UInt64($0.offset)) }
        mesh.copy(at: "a", bytes: interleaved, mimeType: "application/octet-stream")
        mesh.run()
        let b = mesh.engines["b"]!
        let id = try #require(b.currentHeader(.clipboard)).id
        let before = mesh.count("fetch", from: "b")
        let (_, actions) = b.beginRead(id)
        let firstBurst = actions.filter { if case .send(_, .fetch) = $0 { true } else { false } }.count
        mesh.perform(actions, at: "b")
        #expect(firstBurst == SyncEngine.maximumOutstandingFetches, "\(firstBurst) FETCHes went out at once")
        mesh.run()
        var out: [UInt8] = []
        while case .bytes(let piece) = b.read(id, representation: 0, offset: UInt64(out.count)) { out += piece }
        #expect(byteDifference(out, interleaved) == nil)
        #expect(mesh.count("fetch", from: "b") - before > SyncEngine.maximumOutstandingFetches, "the delta should need more ranges than go out at once")
        mesh.perform(b.endRead(id), at: "b")
    }
}
