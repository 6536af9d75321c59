import NIOCore

/// Tells a live peer from a silent one, for one session, without a timer at rest.
///
/// A session has work outstanding while something waits on the peer: a range asked of it,
/// an offer not yet acknowledged (which is also what `clipd send --wait` waits for). Only
/// then does its silence mean anything. Once the peer has been silent for `probeAfter`
/// while work is outstanding, a PING goes out; if nothing at all arrives within
/// `answerWithin` of it, the peer is taken as gone and the session is given up (`giveUp`),
/// so the owner closes it and dials again: a silently dead path (a closed laptop lid, a
/// paused VM, Wi-Fi gone) is replaced about `probeAfter + answerWithin` after the wait
/// began, instead of after TCP's retransmission timeout of many minutes. Any byte from the
/// peer counts as an answer: a PONG stuck behind a long DATA stream is not needed when the
/// DATA itself arrives. An idle session (nothing outstanding) schedules nothing at all.
///
/// Confined to the connection's event loop, like its owner.
final class SessionLiveness {
    /// Silence, while work is outstanding, after which the peer is asked whether it is there.
    static let probeAfter = TimeAmount.seconds(10)
    /// How long the peer has to answer (with anything) before the session is given up.
    static let answerWithin = TimeAmount.seconds(10)

    private let loop: EventLoop
    /// The clock: the loop's (NIODeadline.now) unless a test drives time by hand.
    private let now: () -> NIODeadline
    /// Whether anything waits on the peer now (asked of the owner when the timer fires).
    private let awaitsPeer: () -> Bool
    /// Sends a PING carrying `token`.
    private let ping: (UInt64) -> Void
    /// The peer is gone: the owner ends the session, saying why.
    private let giveUp: (String) -> Void

    private var lastHeard: NIODeadline
    /// When the current wait began: the first outstanding work since the session was
    /// last idle.
    private var waitingSince: NIODeadline?
    private var probeSentAt: NIODeadline?
    private var timer: Scheduled<Void>?
    private var nextToken: UInt64 = 1

    init(loop: EventLoop, now: @escaping () -> NIODeadline = NIODeadline.now, awaitsPeer: @escaping () -> Bool,
         ping: @escaping (UInt64) -> Void, giveUp: @escaping (String) -> Void) {
        self.loop = loop
        self.now = now
        lastHeard = now()
        self.awaitsPeer = awaitsPeer
        self.ping = ping
        self.giveUp = giveUp
    }

    /// Bytes came from the peer.
    func heard() { lastHeard = now() }

    /// Something that needs an answer went to the peer (a FETCH, an OFFER): the wait
    /// begins now unless one is under way.
    func workSent() {
        guard timer == nil else { return }
        let start = now()
        waitingSince = start
        schedule(at: start + Self.probeAfter)
    }

    /// The peer's last message may have been the answer to everything outstanding: with
    /// nothing left to wait for, the timer goes, so an idle session wakes nothing.
    func settle() {
        guard timer != nil, !awaitsPeer() else { return }
        stop()
    }

    /// Ends the timer (the session closed, or nothing waits any more).
    func stop() {
        timer?.cancel()
        timer = nil
        waitingSince = nil
        probeSentAt = nil
    }

    /// How long the peer has been silent while work waits on it: nil when nothing waits.
    var silence: TimeAmount? {
        guard let waitingSince else { return nil }
        return now() - max(lastHeard, waitingSince)
    }

    /// A PING is out and unanswered.
    var isProbing: Bool {
        guard let probeSentAt else { return false }
        return lastHeard < probeSentAt
    }

    // MARK: The timer

    private func schedule(at deadline: NIODeadline) {
        timer?.cancel()
        let this = NIOLoopBound(self, eventLoop: loop)
        timer = loop.scheduleTask(deadline: deadline) { this.value.check() }
    }

    private func check() {
        timer = nil
        guard let waitingSince, awaitsPeer() else { return stop() }
        let now = self.now()
        if let sent = probeSentAt {
            if lastHeard >= sent {
                probeSentAt = nil  // answered: the wait goes on, counted from what was heard
            } else if now >= sent + Self.answerWithin {
                let silent = (now - max(lastHeard, waitingSince)).nanoseconds / 1_000_000_000
                stop()
                return giveUp("no answer for \(silent) s while waiting on the peer")
            } else {
                return schedule(at: sent + Self.answerWithin)
            }
        }
        let quietSince = max(lastHeard, waitingSince)
        guard now >= quietSince + Self.probeAfter else { return schedule(at: quietSince + Self.probeAfter) }
        probeSentAt = now
        ping(nextToken)
        nextToken &+= 1
        schedule(at: now + Self.answerWithin)
    }
}
