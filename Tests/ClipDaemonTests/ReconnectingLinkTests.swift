@testable import ClipDaemon
import ClipSync
import NIOCore
import NIOEmbedded
import Testing

/// The daemon's one reconnect policy on a hand-driven loop: when a link tries again, when
/// its waits shrink back, that it runs no timer while connected or unwanted, and that a
/// stopped link opens nothing. Every dialer and channel of the daemon is such a link.
@Suite("Links: one reconnect policy for dialers and channels")
struct ReconnectingLinkTests {
    final class Remote {
        let loop = EmbeddedEventLoop()
        /// Whether the next attempts succeed.
        var reachable = false
        var wanted = true
        var attempts: [Int64] = []  // milliseconds since the start
        var failures: [(String, Bool)] = []
        var opened: [EmbeddedChannel] = []
        let start: NIODeadline

        init() { start = loop.now }

        func link(backoff: Backoff = Backoff(first: .milliseconds(100), maximum: .milliseconds(800)), workingAfter: TimeAmount? = nil) -> ReconnectingLink {
            ReconnectingLink(
                loop: loop, backoff: backoff, workingAfter: workingAfter,
                open: { [unowned self] in
                    attempts.append((loop.now - start).nanoseconds / 1_000_000)
                    guard reachable else { return loop.makeFailedFuture(DaemonError("connection refused")) }
                    let channel = EmbeddedChannel(loop: loop)
                    opened.append(channel)
                    return loop.makeSucceededFuture(channel)
                },
                wanted: { [unowned self] in wanted },
                failed: { [unowned self] reason, first in failures.append((reason, first)) })
        }

        func wait(_ milliseconds: Int64) { loop.advanceTime(by: .milliseconds(milliseconds)) }

        /// Whether `channel` has closed (never waits: an embedded loop would block forever).
        func isClosed(_ channel: Channel) -> Bool {
            let closed = NIOLoopBoundBox(false, eventLoop: loop)
            channel.closeFuture.whenComplete { _ in closed.value = true }
            loop.run()
            return closed.value
        }
    }

    @Test func failedAttemptsWaitTwiceAsLongEachTimeUpToTheMaximumAndSaySoOnce() {
        let remote = Remote()
        let link = remote.link()
        link.connect()
        remote.wait(3000)
        #expect(remote.attempts == [0, 100, 300, 700, 1500, 2300])
        #expect(remote.failures.map(\.1) == [true, false, false, false, false, false])
        #expect(link.lastProblem == "connection refused" && !link.isConnected)
    }

    @Test func aWorkingConnectionThatEndsIsRetriedQuicklyAndAShortOneBacksOff() throws {
        let remote = Remote()
        remote.reachable = true
        let link = remote.link(workingAfter: .seconds(2))
        link.connect()
        #expect(link.isConnected && link.lastProblem == nil)
        remote.wait(5000)
        #expect(remote.attempts == [0], "no timer while connected")

        // Open for 5 s: it worked, so the next attempt comes after the first wait.
        try remote.opened[0].close().wait()
        remote.wait(100)
        #expect(remote.attempts == [0, 5100])
        // Open for a moment only (a guest's port with no host reads end-of-file at once):
        // the waits grow.
        try remote.opened[1].close().wait()
        remote.wait(200)
        #expect(remote.attempts == [0, 5100, 5300])
        try remote.opened[2].close().wait()
        remote.wait(400)
        #expect(remote.attempts == [0, 5100, 5300, 5700])
    }

    @Test func aLinkNobodyWantsRunsNoTimerAndStartsAgainWhenAsked() {
        let remote = Remote()
        let link = remote.link()
        link.connect()
        remote.wanted = false  // the peer reached us by itself
        remote.wait(10_000)
        #expect(remote.attempts == [0], "the retry that came due found nobody wanting it, and set no other")
        remote.wanted = true
        link.connect()
        #expect(remote.attempts == [0, 10_000])
    }

    @Test func successResetsTheWaitsAndDropsAPendingRetry() {
        let remote = Remote()
        let link = remote.link()
        link.connect()
        remote.wait(300)
        #expect(remote.attempts == [0, 100, 300])
        link.succeeded()  // a session came in meanwhile
        remote.wait(5000)
        #expect(remote.attempts == [0, 100, 300], "the pending retry was dropped")
        link.connect()
        remote.wait(100)
        #expect(remote.attempts == [0, 100, 300, 5300, 5400], "back to the first wait")
    }

    @Test func aStoppedLinkOpensNothingAndClosesWhatConnectsLate() throws {
        let remote = Remote()
        let pending = remote.loop.makePromise(of: Channel.self)
        let link = ReconnectingLink(loop: remote.loop, backoff: Backoff(first: .milliseconds(100), maximum: .seconds(1)),
                                    open: { pending.futureResult }, failed: { _, _ in })
        link.connect()
        #expect(link.stop() == nil)
        let late = EmbeddedChannel(loop: remote.loop)
        pending.succeed(late)
        #expect(!link.isConnected)
        #expect(remote.isClosed(late))

        let failing = remote.link()
        failing.connect()
        _ = failing.stop()
        remote.wait(10_000)
        #expect(remote.attempts == [0])
    }

    @Test func reconnectingNowClosesTheOpenConnectionAndOpensAnotherAtTheFirstWait() throws {
        let remote = Remote()
        remote.reachable = true
        let link = remote.link()
        link.connect()
        remote.wait(1000)
        link.reconnectNow()
        #expect(remote.isClosed(remote.opened[0]))
        remote.wait(100)
        #expect(remote.attempts == [0, 1100] && link.isConnected)
    }

    @Test func theLinkSetFindsStopsAndRemovesLinksByTheirTypedKey() throws {
        let remote = Remote()
        remote.reachable = true
        let set = LinkSet()
        let channel = ChannelLink(channel: .hostConnect(path: "/run/vm/a.sock"), kind: .clipd, connection: remote.link())
        let agent = ChannelLink(channel: .hostConnect(path: "/run/vm/a.sock"), kind: .spiceAgent, connection: remote.link())
        set.add(channel)
        set.add(agent)
        channel.connection.connect()
        #expect(set.contains(.channel(.hostConnect(path: "/run/vm/a.sock"), .spiceAgent)))
        #expect(set.channels(.clipd).count == 1 && set.channels.count == 2)
        #expect(set.remove(.channel(.hostConnect(path: "/run/vm/a.sock"), .clipd)) === channel)
        #expect(remote.isClosed(remote.opened[0]), "removing a link closes its connection")
        #expect(set.remove(.channel(.hostConnect(path: "/run/vm/a.sock"), .clipd)) == nil)
        remote.wait(10_000)
        #expect(remote.attempts.count == 1, "a removed link is not opened again")
    }

    @Test func aReloadDetachesRemovedChannelsAttachesNewOnesAndLeavesListenersForARestart() {
        let remote = Remote()
        let set = LinkSet()
        let kept = VirtioChannel.hostConnect(path: "/run/vm/kept.sock"), gone = VirtioChannel.hostConnect(path: "/run/vm/gone.sock")
        let fresh = VirtioChannel.hostConnect(path: "/run/vm/new.sock"), listening = VirtioChannel.hostListen(path: "/run/vm/l.sock")
        for channel in [kept, gone] { set.add(ChannelLink(channel: channel, kind: .clipd, connection: remote.link())) }
        var attached: [(VirtioChannel, ChannelKind)] = []
        let lines = set.reconcileChannels([kept, gone, listening], [], with: [kept, fresh], [fresh]) { attached.append(($0, $1)) }
        #expect(lines == ["detached VM channel \(gone)", "--virtio \(listening): still listening until clipd restarts",
                          "attached VM channel \(fresh)", "attached SPICE agent channel \(fresh)"])
        #expect(attached.map(\.0) == [fresh, fresh] && attached.map(\.1) == [.clipd, .spiceAgent])
        #expect(set.channels.map(\.channel) == [kept])
    }

    /// What the links say of themselves in `clipd status` and `clipd doctor`.
    final class Sessions: LinkSessions {
        var ready: Set<String> = []
        var agentsReady: Int { ready.count }
        func agentReady(on channel: String) -> Bool { ready.contains(channel) }
        func agentConnection(on channel: String) -> VDAgentConnection? { nil }
        var hostSessionOpen = false
        var pairedWithHost = false
    }

    @Test func eachLinkReportsItselfInStatusAndDoctor() throws {
        let remote = Remote()
        let set = LinkSet()
        let sessions = Sessions()
        #expect(set.statusLines(sessions) == ["listening: no (dials out only; add --listen HOST:PORT to accept peers)"])
        #expect(set.listenerFinding(configFile: "/c.toml").fix?.contains("/c.toml") == true)

        set.add(ListenerLink(key: .listener("0.0.0.0:7439"), channel: EmbeddedChannel(loop: remote.loop), bound: "0.0.0.0:7439"))
        let vm = ChannelLink(channel: .hostConnect(path: "/run/vm/a.sock"), kind: .clipd, connection: remote.link())
        let agent = ChannelLink(channel: .hostConnect(path: "/run/vm/b.sock"), kind: .spiceAgent, connection: remote.link())
        set.add(vm)
        set.add(agent)
        vm.connection.connect()  // refused: not attached
        remote.reachable = true
        agent.connection.connect()
        sessions.ready = ["unix:/run/vm/b.sock"]
        #expect(set.statusLines(sessions) == ["listening: 0.0.0.0:7439", "VM channels: unix:/run/vm/a.sock (0 of 1 attached)",
                                             "SPICE agent channels: unix:/run/vm/b.sock (1 of 1 agents ready)"])
        let findings = set.channelFindings(sessions)
        #expect(findings.map(\.text) == ["VM channel unix:/run/vm/a.sock: not attached (connection refused)",
                                            "SPICE agent channel unix:/run/vm/b.sock: the guest's agent is ready"])
        #expect(findings.map(\.level) == [.problem, .ok])
    }

    @Test func theDesktopsAndTheLinksBackoffDoublesAndResets() {
        var backoff = Backoff(first: .milliseconds(500), maximum: .seconds(30))
        let waits = (0..<8).map { _ in backoff.next() }
        #expect(waits == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30), .seconds(30)])
        backoff.reset()
        #expect(backoff.next() == .milliseconds(500))
        #expect(Duration.milliseconds(1500).nanoseconds == 1_500_000_000)
    }
}
