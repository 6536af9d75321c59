@testable import ClipDaemon
import NIOCore
import NIOEmbedded
import Testing

/// `SessionLiveness` on a hand-driven loop: a peer is asked whether it is there only when
/// it has been silent while work waits on it, is given up on when it does not answer, and
/// an idle session schedules nothing at all.
@Suite("Session liveness: probe silent peers with work outstanding, nothing at rest")
struct SessionLivenessTests {
    final class Peer {
        let loop = EmbeddedEventLoop()
        var awaits = false
        var pings: [UInt64] = []
        var givenUp: [String] = []
        lazy var liveness = SessionLiveness(loop: loop, now: { [loop] in loop.now }, awaitsPeer: { [unowned self] in awaits },
                                            ping: { [unowned self] in pings.append($0) }, giveUp: { [unowned self] in givenUp.append($0) })
        func wait(_ seconds: Int64) { loop.advanceTime(by: .seconds(seconds)) }
    }

    let probe = SessionLiveness.probeAfter.nanoseconds / 1_000_000_000
    let answer = SessionLiveness.answerWithin.nanoseconds / 1_000_000_000

    @Test func anIdleSessionSchedulesNothing() {
        let peer = Peer()
        peer.liveness.heard()
        peer.wait(3600)
        #expect(peer.pings.isEmpty && peer.givenUp.isEmpty)
        #expect(peer.liveness.silence == nil)
    }

    @Test func aSilentPeerIsProbedThenGivenUp() {
        let peer = Peer()
        peer.awaits = true
        peer.liveness.workSent()
        peer.wait(probe - 1)
        #expect(peer.pings.isEmpty)
        peer.wait(1)
        #expect(peer.pings == [1])
        #expect(peer.liveness.isProbing)
        #expect(peer.liveness.silence == SessionLiveness.probeAfter)
        peer.wait(answer - 1)
        #expect(peer.givenUp.isEmpty)
        peer.wait(1)
        #expect(peer.givenUp.count == 1)
        #expect(peer.givenUp.first?.contains("no answer for \(probe + answer) s") == true, "\(peer.givenUp)")
        #expect(peer.liveness.silence == nil, "stopped")
    }

    @Test func anAnswerKeepsTheSessionAndTheWaitGoesOn() {
        let peer = Peer()
        peer.awaits = true
        peer.liveness.workSent()
        peer.wait(probe)
        #expect(peer.pings.count == 1)
        peer.wait(2)
        peer.liveness.heard()  // the PONG
        peer.wait(probe - 1)
        #expect(peer.givenUp.isEmpty)
        #expect(peer.pings.count == 1, "not asked again before another silence of \(probe) s")
        peer.wait(1)
        #expect(peer.pings.count == 2)
    }

    @Test func bytesFlowingAreAnswerEnough() {
        let peer = Peer()
        peer.awaits = true
        peer.liveness.workSent()
        for _ in 0..<20 {
            peer.wait(probe - 1)
            peer.liveness.heard()  // DATA keeps coming, slowly
        }
        #expect(peer.pings.isEmpty && peer.givenUp.isEmpty)
    }

    @Test func whenNothingWaitsAnyMoreTheTimerGoes() {
        let peer = Peer()
        peer.awaits = true
        peer.liveness.workSent()
        peer.wait(2)
        peer.awaits = false
        peer.liveness.heard()
        peer.liveness.settle()  // the ACK came
        #expect(peer.liveness.silence == nil)
        peer.wait(3600)
        #expect(peer.pings.isEmpty && peer.givenUp.isEmpty)
        // A wait that ends without a message from the peer stops at the next check.
        peer.awaits = true
        peer.liveness.workSent()
        peer.awaits = false
        peer.wait(probe)
        #expect(peer.pings.isEmpty)
        #expect(peer.liveness.silence == nil)
    }
}
