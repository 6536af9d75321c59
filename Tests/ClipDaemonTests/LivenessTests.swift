import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A peer that holds the item goes silent while something waits on it, the way a closed
/// laptop lid, a paused VM or a frozen process does: its kernel keeps the TCP connection
/// up (SIGSTOP leaves it answering TCP), so only clipd's own liveness check can tell.
/// Every paste ends within 60 s, with the data or one line saying why; once the peer is
/// back, the same paste succeeds without restarting anything.
@Suite("Integration: a silent peer does not freeze a paste", .serialized)
struct LivenessTests {
    let h = DaemonHarness()
    /// Longest a paste may take to fail once its source went silent (issue 18).
    static let pasteLimit: TimeInterval = 60

    /// A 3 MiB text (above the 256 KiB lazy threshold: the receiver fetches it on paste)
    /// sent by `holder` with --wait, once its session is up.
    func lazyItem(from holder: DaemonHarness.Daemon) -> [UInt8] {
        #expect(h.eventually(timeout: 30) { connected(holder) })
        let item = TestData.text(3 << 20)
        #expect(h.clipd(["send", "--wait", "-t", "text/plain;charset=utf-8"], holder, stdin: item).status == 0)
        return item
    }

    func freeze(_ daemon: DaemonHarness.Daemon) { daemon.process?.signal(SIGSTOP) }
    func thaw(_ daemon: DaemonHarness.Daemon) { daemon.process?.signal(SIGCONT) }

    func connected(_ daemon: DaemonHarness.Daemon) -> Bool { h.clipd(["status"], daemon, timeout: 10).stdout.contains("1 connected") }

    @Test func recvFromAFrozenPeerFailsInOneLineSaysWhyAndWorksOnceItThaws() throws {
        let (alpha, beta) = try h.startPairedDaemons()
        let item = lazyItem(from: alpha)
        #expect(h.clipd(["status"], beta).stdout.contains("(fetched when pasted)"))
        freeze(alpha)
        defer { thaw(alpha) }
        let started = Date()
        let paste = try h.startCLI(["recv"], beta)
        // While it waits, status and doctor tell the stalled transfer and the silent peer
        // apart from healthy ones.
        var status = ""
        #expect(h.eventually(timeout: 25) {
            status = h.clipd(["status"], beta, timeout: 10).stdout
            return status.contains("stalled: no data from alpha for") && status.contains("peer alpha: no data for")
        }, "\(status)")
        let doctor = h.clipd(["doctor"], beta, timeout: 10)
        #expect(doctor.status == 1)
        let problems = doctor.stdout.split(separator: "\n").filter { $0.hasPrefix("problem") }
        #expect(problems.contains { $0.contains("peer alpha: no data for") && $0.contains("fix:") }, "\(doctor.stdout)")
        #expect(problems.contains { $0.contains("item transfer from alpha stalled: no data from alpha for") }, "\(doctor.stdout)")
        let result = h.finish(paste, timeout: Self.pasteLimit + 15)
        let took = Date().timeIntervalSince(started)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(took < Self.pasteLimit, "the paste took \(Int(took)) s to fail")
        #expect(result.stdoutBytes.isEmpty, "nothing partial is printed")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("alpha"), "\(result.stderr)")
        #expect(h.logText(beta).contains("no answer for"), "the session was given up on for its silence")

        thaw(alpha)
        #expect(h.eventually(timeout: 45) { connected(beta) }, "beta did not get its session back")
        let again = h.clipd(["recv"], beta)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(byteDifference(again.stdoutBytes, item) == nil)
    }

    @Test func sendWaitOnAFrozenPeerEndsWhenTheSessionIsGivenUp() throws {
        let (alpha, beta) = try h.startPairedDaemons()
        #expect(h.eventually(timeout: 30) { connected(beta) })
        freeze(alpha)
        defer { thaw(alpha) }
        let started = Date()
        let result = h.clipd(["send", "--wait", "--timeout", "120", "are you there"], beta, timeout: 150)
        let took = Date().timeIntervalSince(started)
        #expect(result.status == 1)
        #expect(result.stderr.contains("alpha disconnected before acknowledging"), "\(result.stderr)")
        #expect(took < 40, "waited \(Int(took)) s: the silent peer was not noticed")
        thaw(alpha)
        #expect(h.eventually(timeout: 45) { connected(beta) })
        #expect(h.eventually { h.received(alpha) == "are you there" }, "the copy reached alpha once it was back")
    }

    @Test(.enabled(if: XvfbServer.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/bin/xclip"), "needs Xvfb and xclip"))
    func anX11PasteFromAFrozenPeerIsRefusedAndWorksOnceItThaws() throws {
        let x = try XvfbServer(harness: h)
        let desk = try h.startOnDisplay("desk", display: x.display)
        let holder = try h.start("holder", listen: false)
        try h.pair(holder, with: desk)
        let item = lazyItem(from: holder)
        #expect(h.eventually { x.run("xclip", ["-o", "-selection", "clipboard", "-t", "TARGETS"], harness: h).stdout.contains("UTF8_STRING") })
        freeze(holder)
        defer { thaw(holder) }
        let started = Date()
        let paste = x.run("xclip", ["-o", "-selection", "clipboard", "-t", "UTF8_STRING"], harness: h, timeout: Self.pasteLimit + 15)
        let took = Date().timeIntervalSince(started)
        #expect(!paste.timedOut && paste.status != 0, "xclip: \(paste.status) \(paste.stderr)")
        #expect(took < Self.pasteLimit, "the paste took \(Int(took)) s to end")
        #expect(paste.stdoutBytes.isEmpty)
        #expect(h.logText(desk).contains("refused a paste of the clipboard item"), "\(h.logText(desk).suffix(800))")

        thaw(holder)
        #expect(h.eventually(timeout: 45) { connected(desk) })
        let again = x.run("xclip", ["-o", "-selection", "clipboard", "-t", "UTF8_STRING"], harness: h)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(byteDifference(again.stdoutBytes, item) == nil)
    }

    @Test(.enabled(if: WaylandCompositor.isAvailable(.sway) && WaylandCompositor.clipboardToolsAvailable, "needs sway and wl-clipboard"))
    func aWaylandPasteFromAFrozenPeerEndsAndWorksOnceItThaws() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let desk = try h.startOnCompositor("desk", socket: sway.socket)
        let holder = try h.start("holder", listen: false)
        try h.pair(holder, with: desk)
        let item = lazyItem(from: holder)
        #expect(h.eventually { sway.run("wl-paste", ["--list-types"], harness: h).stdout.contains("text/plain;charset=utf-8") })
        freeze(holder)
        defer { thaw(holder) }
        let started = Date()
        let paste = sway.paste(type: "text/plain;charset=utf-8", harness: h, timeout: Self.pasteLimit + 15)
        let took = Date().timeIntervalSince(started)
        #expect(!paste.timedOut, "wl-paste hung")
        #expect(took < Self.pasteLimit, "the paste took \(Int(took)) s to end")
        #expect(paste.stdoutBytes.isEmpty, "nothing arrived, so nothing is pasted")
        #expect(h.logText(desk).contains("refused a paste of the clipboard item"), "nothing was written: a refusal, \(h.logText(desk).suffix(800))")

        thaw(holder)
        #expect(h.eventually(timeout: 45) { connected(desk) })
        let again = sway.paste(type: "text/plain;charset=utf-8", harness: h)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(byteDifference(again.stdoutBytes, item) == nil)
    }
}
