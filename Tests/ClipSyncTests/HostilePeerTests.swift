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
}
