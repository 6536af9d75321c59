import ClipTestSupport
import Foundation
import Testing

/// `clipd recv --watch CMD` tells the command what it got, the way wl-paste --watch does:
/// CLIPBOARD_STATE, plus the MIME type, origin and selection.
@Suite("Integration: recv --watch environment", .serialized)
struct WatchEnvironmentTests {
    let h = DaemonHarness()

    /// Starts `recv --watch` on `daemon` with a command appending one line per run to a file;
    /// returns the file.
    func watch(_ daemon: DaemonHarness.Daemon) throws -> String {
        let out = h.root + "/watch-\(daemon.name).txt"
        let script = "printf '%s|%s|%s|%s|%s\\n' \"$CLIPBOARD_STATE\" \"$CLIPD_MIME_TYPE\" \"$CLIPD_ORIGIN\" \"$CLIPD_SELECTION\" \"$(cat)\" >> \(out)"
        _ = try h.startCLI(["recv", "--watch", "sh", "-c", script], daemon)
        return out
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func stateTypeAndOriginOfEachItem() throws {
        let (a, b) = try h.startPairedDaemons()
        let out = try watch(b)
        #expect(h.eventually { read(out) == "nil|||clipboard|\n" }, "the command runs once at start, for the empty clipboard: \(read(out))")
        #expect(h.clipd(["send", "--wait", "-t", "text/html", "<b>hi</b>"], a).status == 0)
        #expect(h.eventually { read(out) == "nil|||clipboard|\ndata|text/html|alpha|clipboard|<b>hi</b>\n" }, "\(read(out))")
        #expect(h.clipd(["send", "mine"], b).status == 0)
        #expect(h.eventually { read(out).hasSuffix("data|text/plain;charset=utf-8|this device|clipboard|mine\n") }, "\(read(out))")

        // A watch started on a clipboard that holds something runs at once with it.
        let late = try watch(a)
        #expect(h.eventually { read(late) == "data|text/plain;charset=utf-8|beta|clipboard|mine\n" }, "\(read(late))")
    }

    @Test func printingWatchesSkipEmptyStates() throws {
        let (a, b) = try h.startPairedDaemons()
        let running = try h.startCLI(["recv", "--watch"], b)
        #expect(h.awaitWatches(b))
        #expect(h.clipd(["send", "--wait", "one"], a).status == 0)
        #expect(h.eventually { read(running.stdoutPath) == "one\n" }, "\(read(running.stdoutPath))")
    }

    @Test(.enabled(if: XvfbServer.isAvailable, "needs Xvfb"))
    func sensitiveItemsAndClearedSelections() throws {
        let x = try XvfbServer(harness: h)
        let config = h.root + "/secrets.toml"
        try "sync_secrets = true\n".write(toFile: config, atomically: true, encoding: .utf8)
        let desk = try h.startOnDisplay("desk", display: x.display, arguments: ["--config", config])
        let peer = try h.start("peer", listen: false)
        try h.pair(peer, with: desk)
        let onDesk = try watch(desk)
        let onPeer = try watch(peer)
        #expect(h.eventually { read(onDesk) == "nil|||clipboard|\n" && read(onPeer) == "nil|||clipboard|\n" })

        let owner = try #require(X11Probe(displayName: x.display, watch: false))
        owner.own(targets: ["UTF8_STRING": Array("hunter2".utf8), "x-kde-passwordManagerHint": Array("secret".utf8)])
        owner.serve(for: 1.0)
        #expect(h.eventually { read(onDesk).hasSuffix("sensitive|text/plain;charset=utf-8|this device|clipboard|hunter2\n") }, "\(read(onDesk))")
        #expect(h.eventually { read(onPeer).hasSuffix("sensitive|text/plain;charset=utf-8|desk|clipboard|hunter2\n") }, "\(read(onPeer))")
        #expect(h.clipd(["recv", "-l"], peer).stdout.contains("x-kde-passwordManagerHint"), "the mark travels with the item")

        owner.clear()
        #expect(h.eventually { read(onDesk).hasSuffix("clear|||clipboard|\n") }, "\(read(onDesk))")
        usleep(300_000)
        #expect(!read(onPeer).contains("clear"), "a clear is this desktop's own; it is not synced")
    }

    @Test(.enabled(if: WaylandCompositor.isAvailable(.sway) && WaylandCompositor.clipboardToolsAvailable, "needs sway and wl-clipboard"))
    func aWaylandSelectionClearedIsAClearEvent() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let desk = try h.startOnCompositor("desk", socket: sway.socket)
        let out = try watch(desk)
        #expect(h.eventually { read(out) == "nil|||clipboard|\n" })
        let copy = try sway.startCopy([], data: Array("copied here".utf8))
        defer { copy.terminate() }
        #expect(h.eventually { read(out).hasSuffix("data|text/plain;charset=utf-8|this device|clipboard|copied here\n") }, "\(read(out))")
        #expect(sway.run("wl-copy", ["--clear"], harness: h).status == 0)
        #expect(h.eventually { read(out).hasSuffix("clear|||clipboard|\n") }, "\(read(out))")
        #expect(h.received(desk) == "copied here", "clipd keeps its item when the desktop clears")
    }
}
