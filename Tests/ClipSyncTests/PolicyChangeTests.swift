import ClipSync
import ClipWire
import Testing

/// A session's policy changed while it stays open (reload, `clipd peers set`, pause): the
/// production engine in the in-memory mesh.
@Suite("Sync engine: policies changed on open sessions")
struct PolicyChangeTests {
    @Test func pausingAndResumingAnOpenSession() {
        let mesh = InMemoryMesh()
        mesh.add("desk"); mesh.add("laptop")
        let link = mesh.connect("desk", "laptop")
        mesh.run()
        mesh.copy(at: "laptop", "before")
        mesh.run()
        #expect(mesh.text(at: "desk") == "before")

        // Paused: the desk refuses what the laptop copies and sends it nothing.
        mesh.perform(mesh.engines["desk"]!.updatePolicy(link.sessionAtA, PeerPolicy(direction: .off)), at: "desk")
        mesh.wallClock += 1000
        mesh.copy(at: "laptop", "while paused")
        mesh.run()
        #expect(mesh.text(at: "desk") == "before")
        #expect(mesh.acks["laptop"]?.last?.1 == .refused)
        #expect(mesh.engines["desk"]!.policy(of: link.sessionAtA)?.direction == .off)

        // Resumed: nothing from the pause comes back by itself; the next copy syncs.
        mesh.perform(mesh.engines["desk"]!.updatePolicy(link.sessionAtA, .open), at: "desk")
        mesh.run()
        #expect(mesh.text(at: "desk") == "before")
        mesh.wallClock += 1000
        mesh.copy(at: "laptop", "after")
        mesh.run()
        #expect(mesh.text(at: "desk") == "after")
    }

    @Test func aPeerLetBackInIsOfferedWhatIsHeld() {
        let mesh = InMemoryMesh()
        mesh.add("host"); mesh.add("guest")
        let link = mesh.connect("host", "guest", aForB: PeerPolicy(direction: .receive))
        mesh.run()
        mesh.copy(at: "host", "kept from the guest")
        mesh.run()
        #expect(mesh.text(at: "guest") == nil)
        let offers = mesh.count("offer", from: "host")

        mesh.perform(mesh.engines["host"]!.updatePolicy(link.sessionAtA, .open), at: "host")
        mesh.run()
        #expect(mesh.text(at: "guest") == "kept from the guest", "both ways now: the held item is offered at once")
        // Nothing is offered twice: a change that lets nothing new through sends nothing.
        mesh.perform(mesh.engines["host"]!.updatePolicy(link.sessionAtA, PeerPolicy(direction: .send)), at: "host")
        mesh.run()
        #expect(mesh.count("offer", from: "host") == offers + 1)
    }

    @Test func aSmallerMaximumRefusesLargerOffersFromThenOn() {
        let mesh = InMemoryMesh()
        mesh.add("a"); mesh.add("b")
        mesh.connect("a", "b")
        mesh.run()
        mesh.copy(at: "a", String(repeating: "x", count: 3000))
        mesh.run()
        #expect(mesh.text(at: "b")?.count == 3000)
        mesh.engines["b"]!.updateLimits(maximumItemSize: 2048, lazyThreshold: 256 * 1024, chunkCacheBudget: 1 << 20)
        mesh.wallClock += 1000
        mesh.copy(at: "a", String(repeating: "y", count: 3000))
        mesh.run()
        #expect(mesh.text(at: "b")?.first == "x", "over the new maximum: refused")
        #expect(mesh.acks["a"]?.last?.1 == .tooLarge)
        #expect(mesh.engines["b"]!.maximumItemSize == 2048)
    }
}
