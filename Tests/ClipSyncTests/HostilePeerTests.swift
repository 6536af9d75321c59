import ClipCrypto
import ClipSync
import ClipWire
import Testing

/// Regression tests for the review of issue 11 at the engine: what a paired but malicious
/// (or broken) peer can offer, and what the engine must refuse.
@Suite("Sync engine: a hostile paired peer")
struct HostilePeerTests {
    static let now: UInt64 = 1_700_000_000_000
    let mallory = DeviceID(bytes: Array(SHA256.hash(Array("mallory".utf8)).prefix(16)))
    let session = SessionID(7)

    func engine() -> SyncEngine {
        let engine = SyncEngine(deviceID: DeviceID(bytes: Array(repeating: 1, count: 16)), deviceName: "self", maximumItemSize: 1 << 20,
                                selections: [.clipboard, .primary], wallMilliseconds: { Self.now })
        _ = engine.sessionOpened(session, peer: mallory)
        _ = engine.received(.hello(.init(deviceName: "mallory", maximumItemSize: 1 << 20)), on: session)
        return engine
    }

    func offer(_ text: String, clock: HybridTimestamp, origin: DeviceID? = nil, counter: UInt64 = 1) -> SessionMessage {
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: origin ?? mallory, counter: counter), clock: clock,
                                representations: [RepresentationInfo(mimeType: "text/plain", size: UInt64(text.utf8.count))])
        return .offer(.init(header: header, inlineData: Array(text.utf8)))
    }

    static func acks(_ actions: [SyncAction]) -> [SessionMessage.Ack.Status] {
        actions.compactMap {
            if case .send(_, .ack(let ack)) = $0 { return ack.status }
            return nil
        }
    }

    /// Finding 2: a clock at the end of the counter's range used to be merged, so it won
    /// forever and the next local reading wrapped to zero (and lost to everything).
    @Test func aClockFarAheadOfWallTimeIsRefusedAndLeavesTheClockAlone() {
        let engine = engine()
        for clock in [HybridTimestamp(rawValue: .max), HybridTimestamp(milliseconds: Self.now + HybridClock.maximumAhead + 1, logical: 0)] {
            let actions = engine.received(offer("forever", clock: clock), on: session)
            #expect(Self.acks(actions) == [.clockAhead])
            #expect(engine.currentHeader(.clipboard) == nil)
        }
        let local = engine.localHeader(selection: .clipboard, representations: [RepresentationInfo(mimeType: "text/plain", size: 1)])
        #expect(local.clock.milliseconds == Self.now, "the local clock was not pushed into the future")
        // Within the bound a peer's clock still wins, as clocks disagree a little.
        let slightlyAhead = HybridTimestamp(milliseconds: Self.now + 60_000, logical: 0)
        #expect(Self.acks(engine.received(offer("fine", clock: slightlyAhead, counter: 2), on: session)) == [.applied])
    }

    @Test func theClockNeverWraps() {
        var clock = HybridClock(wallMilliseconds: { UInt64.max >> 16 })
        let first = clock.tick()
        for _ in 0..<70_000 { _ = clock.tick() }
        #expect(clock.tick() >= first, "a reading went backwards")
        let merged = clock.observe(HybridTimestamp(rawValue: .max))
        #expect(merged)
        let last = clock.tick()
        #expect(last.rawValue == .max)
    }

    /// Finding 4: an item claiming this daemon's origin was not made here; accepting it let a
    /// peer shadow a real copy of ours (same id) on every machine.
    @Test func anOfferClaimingOurOwnOriginIsRefused() {
        let engine = engine()
        let actions = engine.received(offer("forged", clock: HybridTimestamp(milliseconds: Self.now, logical: 0), origin: engine.deviceID), on: session)
        #expect(Self.acks(actions) == [.refused])
        #expect(engine.currentHeader(.clipboard) == nil)
    }

    /// Finding 4: per-peer direction, enforced on offers received, on relays, at catch-up
    /// and on fetches by id.
    @Test func directionDecidesWhatGoesEachWay() {
        let mesh = InMemoryMesh()
        mesh.add("host"); mesh.add("guest"); mesh.add("laptop")
        // The host only sends to the guest, and only receives from the laptop.
        mesh.connect("host", "guest", aForB: PeerPolicy(direction: .send))
        mesh.connect("host", "laptop", aForB: PeerPolicy(direction: .receive))
        mesh.run()
        mesh.copy(at: "guest", "from the guest")
        mesh.run()
        #expect(mesh.text(at: "host") == nil, "the host takes nothing from the guest")
        #expect(mesh.acks["guest"]?.last?.1 == .refused)
        mesh.wallClock += 1000
        mesh.copy(at: "laptop", "from the laptop")
        mesh.run()
        #expect(mesh.text(at: "host") == "from the laptop")
        #expect(mesh.text(at: "guest") == "from the laptop", "relayed on to the guest, which the host sends to")
        mesh.wallClock += 1000
        mesh.copy(at: "host", "from the host")
        mesh.run()
        #expect(mesh.text(at: "guest") == "from the host")
        #expect(mesh.text(at: "laptop") == "from the laptop", "nothing goes to the laptop, not even relayed")
        // A late joiner gets no catch-up it may not have; `off` exchanges nothing.
        mesh.add("tablet")
        mesh.connect("host", "tablet", aForB: PeerPolicy(direction: .off))
        mesh.run()
        #expect(mesh.text(at: "tablet") == nil)
    }

    @Test func aFetchByIdOfAnItemThePolicyKeepsFromThePeerFinds() {
        let engine = engine()
        _ = engine.sessionClosed(session)
        _ = engine.sessionOpened(session, peer: mallory, policy: PeerPolicy(selections: [.primary]))
        _ = engine.received(.hello(.init(deviceName: "mallory", maximumItemSize: 1 << 20)), on: session)
        let (item, _) = engine.localCopy(selection: .clipboard, representations: [("text/plain", Array("secret".utf8))])
        let actions = engine.received(.fetch(.init(requestID: 1, item: item.id, representation: 0, offset: 0, length: 6)), on: session)
        guard case .send(_, .fetchFailed(let failure))? = actions.first else { Issue.record("expected FETCH_FAILED, got \(actions)"); return }
        #expect(failure.reason == .notHeld)
    }

    /// Finding 4: selections and a MIME allow-list per peer; an item goes when one of its
    /// types is allowed, and a relay applies the next peer's list too.
    @Test func selectionsAndMIMETypesAreFilteredPerPeer() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b"); mesh.add("c")
        mesh.connect("a", "b", bForA: PeerPolicy(selections: [.clipboard], mimeTypes: ["text/*"]))
        mesh.connect("b", "c", aForB: PeerPolicy(mimeTypes: ["image/png"]))
        mesh.run()
        mesh.copy(at: "a", "primary text", selection: .primary)
        mesh.copy(at: "a", bytes: [1, 2, 3], mimeType: "application/x-anything")
        mesh.run()
        #expect(mesh.text(at: "b", .primary) == nil && mesh.engines["b"]!.currentHeader(.clipboard) == nil)
        #expect(mesh.acks["a"]?.map(\.1) == [.refused, .refused])
        mesh.copy(at: "a", "plain text")
        mesh.run()
        #expect(mesh.text(at: "b") == "plain text")
        #expect(mesh.engines["c"]!.currentHeader(.clipboard) == nil, "b's relay keeps text from c, which takes PNGs only")
        #expect(PeerPolicy(mimeTypes: ["text/*"]).allows(mimeType: "TEXT/Plain; charset=utf-8"))
        #expect(!PeerPolicy(mimeTypes: ["text/plain"]).allows(mimeType: "text/html"))
        #expect(PeerPolicy.problem(inMIMEPatterns: ["*/*"]) != nil && PeerPolicy.problem(inMIMEPatterns: ["text"]) != nil)
    }
}
