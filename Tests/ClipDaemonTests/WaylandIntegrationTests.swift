import ClipSync
import ClipTestSupport
import ClipWire
import ClipboardBackends
import Foundation
import Testing

/// The Wayland backend against real headless sway compositors (zwlr_data_control_manager_v1
/// version 2), with wl-copy and wl-paste as the other applications; weston (no
/// data-control) for the refusal.
@Suite("Integration: Wayland backend on headless sway", .serialized,
       .enabled(if: WaylandCompositor.isAvailable(.sway) && WaylandCompositor.clipboardToolsAvailable, "needs sway and wl-clipboard (make test installs them)"))
struct WaylandIntegrationTests {
    let h = DaemonHarness()

    /// A daemon on a fresh sway, paired with a memory daemon.
    func desktopAndPeer(selections: String = "clipboard", arguments: [String] = []) throws -> (WaylandCompositor, DaemonHarness.Daemon, DaemonHarness.Daemon) {
        let sway = try WaylandCompositor(.sway, harness: h)
        let desk = try h.startOnCompositor("desk", socket: sway.socket, arguments: ["--selections", selections] + arguments)
        let peer = try h.start("peer", listen: false, arguments: ["--selections", selections])
        try h.pair(peer, with: desk)
        return (sway, desk, peer)
    }

    @Test func textCopiedOnTheCompositorReachesThePeer() throws {
        let (sway, desk, peer) = try desktopAndPeer()
        let copy = try sway.startCopy([], data: Array("naïve café ✂ 日本".utf8))
        defer { copy.terminate() }
        #expect(h.eventually { h.received(peer) == "naïve café ✂ 日本" })
        #expect(h.clipd(["recv", "-l"], peer).stdout == "text/plain;charset=utf-8\n")
        #expect(h.clipd(["status"], desk).stdout.contains("(zwlr_data_control_manager_v1)"))
    }

    @Test func textFromThePeerBecomesTheCompositorClipboard() throws {
        let (sway, desk, peer) = try desktopAndPeer()
        #expect(h.clipd(["send", "--wait", "from the peer ✓"], peer).status == 0)
        // `send --wait` returns once the daemon has the item; the compositor's clipboard
        // follows from the backend's thread a moment later (late, on a loaded machine).
        #expect(h.eventually { sway.paste(harness: h).stdout == "from the peer ✓" })
        let types = sway.run("wl-paste", ["--list-types"], harness: h).stdout
        #expect(Set(types.split(separator: "\n").map(String.init)) == ["text/plain;charset=utf-8", "text/plain", "UTF8_STRING", "TEXT", "STRING"])
        for type in ["UTF8_STRING", "TEXT", "text/plain"] {
            #expect(sway.paste(type: type, harness: h).stdout == "from the peer ✓", "\(type)")
        }
        // STRING is Latin-1, which has no ✓: the pipe closes empty.
        #expect(sway.paste(type: "STRING", harness: h).stdoutBytes.isEmpty)
        // The daemon's own source coming back is not a new copy: the item stays the peer's.
        usleep(300_000)
        #expect(h.clipd(["status"], desk).stdout.contains("from peer"))
        // A copy on the desktop after ours is read (our source was cancelled first).
        let copy = try sway.startCopy([], data: Array("desktop again".utf8))
        defer { copy.terminate() }
        #expect(h.eventually { h.received(peer) == "desktop again" })
    }

    @Test func htmlAndPNGKeepTheirTypes() throws {
        let (sway, _, peer) = try desktopAndPeer()
        let html = Array("<b>bold</b> and <i>italic</i>".utf8)
        let htmlCopy = try sway.startCopy(["--type", "text/html"], data: html)
        #expect(h.eventually { h.clipd(["recv", "-t", "text/html"], peer).stdoutBytes == html })
        htmlCopy.terminate()
        let png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let pngCopy = try sway.startCopy(["--type", "image/png"], data: png)
        defer { pngCopy.terminate() }
        #expect(h.eventually { h.clipd(["recv", "-t", "image/png"], peer).stdoutBytes == png })
        #expect(h.clipd(["recv", "-l"], peer).stdout == "image/png\n")
        var other = png
        other[100] ^= 0xff
        #expect(h.clipd(["send", "--wait", "-t", "image/png"], peer, stdin: other).status == 0)
        #expect(h.eventually { sway.paste(type: "image/png", harness: h).stdoutBytes == other })
        #expect(sway.run("wl-paste", ["--list-types"], harness: h).stdout == "image/png\n", "no text invented for an image")
    }

    @Test func twentyMiBBothWays() throws {
        let (sway, _, peer) = try desktopAndPeer()
        let big = (0..<(20 << 20)).map { UInt8(truncatingIfNeeded: 65 + ($0 % 26)) }
        let copy = try sway.startCopy([], data: big)
        #expect(h.eventually(timeout: 60) { h.clipd(["recv"], peer).stdoutBytes.count == big.count })
        #expect(byteDifference(h.clipd(["recv"], peer).stdoutBytes, big) == nil)
        copy.terminate()
        var other = big
        other[0] = 0x7a
        #expect(h.clipd(["send", "--wait"], peer, stdin: other).status == 0)
        #expect(h.eventually(timeout: 60) { sway.paste(harness: h).stdoutBytes.first == 0x7a })
        #expect(byteDifference(sway.paste(harness: h).stdoutBytes, other) == nil)
    }

    @Test func primaryIsSyncedWhenAsked() throws {
        let (sway, _, peer) = try desktopAndPeer(selections: "clipboard,primary")
        let copy = try sway.startCopy(["--primary"], data: Array("selected text".utf8))
        defer { copy.terminate() }
        #expect(h.eventually { h.received(peer, primary: true) == "selected text" })
        #expect(h.received(peer) == nil, "primary never replaces the clipboard")
        #expect(h.clipd(["send", "--wait", "-p", "primary from peer"], peer).status == 0)
        #expect(h.eventually { sway.paste(primary: true, harness: h).stdout == "primary from peer" })
    }

    @Test func passwordManagerSecretsAreNotSyncedUnlessAllowed() throws {
        let (sway, desk, peer) = try desktopAndPeer()
        // A password manager: a second Wayland client offering text plus the hint.
        let manager = WaylandBackend(displayName: sway.socket, selections: [.clipboard], policy: ClipboardPolicy())
        try manager.start(onCopy: { _ in }, onReconnect: {}, log: { _ in })
        defer { manager.stop() }
        manager.own(Self.item(["text/plain;charset=utf-8": "hunter2", ClipboardPolicy.passwordHint: "secret"], counter: 1))
        #expect(h.eventually { h.logText(desk).contains("marked secret by a password manager") })
        #expect(h.received(peer) == nil, "a secret reached the peer")
        manager.own(Self.item(["text/plain;charset=utf-8": "not a secret", ClipboardPolicy.passwordHint: "other"], counter: 2))
        #expect(h.eventually { h.received(peer) == "not a secret" })

        let config = h.root + "/secrets.toml"
        try "sync_secrets = true\n".write(toFile: config, atomically: true, encoding: .utf8)
        h.stop(desk)
        let trusting = try h.startOnCompositor("trusting", socket: sway.socket, arguments: ["--config", config])
        manager.own(Self.item(["text/plain;charset=utf-8": "hunter3", ClipboardPolicy.passwordHint: "secret"], counter: 3))
        #expect(h.eventually { h.received(trusting) == "hunter3" }, "sync_secrets = true lets it through")
        #expect(h.clipd(["recv", "-l"], trusting).stdout == "text/plain;charset=utf-8\nx-kde-passwordManagerHint\n", "a synced secret keeps its mark")
        #expect(!h.clipd(["recv", "-l"], peer).stdout.contains("x-kde-passwordManagerHint"), "a hint that is not 'secret' is not kept")
    }

    @Test func anItemOverTheSizeLimitIsNotReadToTheEnd() throws {
        let (sway, desk, peer) = try desktopAndPeer(arguments: ["--max-size", "1MiB"])
        let copy = try sway.startCopy([], data: [UInt8](repeating: 0x62, count: 3 << 20))
        defer { copy.terminate() }
        #expect(h.eventually { h.logText(desk).contains("over --max-size") })
        #expect(h.received(peer) == nil)
        let small = try sway.startCopy([], data: Array("small again".utf8))
        defer { small.terminate() }
        #expect(h.eventually { h.received(peer) == "small again" })
    }

    @Test func aReaderVanishingMidTransferIsHarmless() throws {
        let (sway, desk, peer) = try desktopAndPeer()
        let big = [UInt8](repeating: 0x61, count: 24 << 20)
        #expect(h.clipd(["send", "--wait"], peer, stdin: big).status == 0)
        #expect(h.eventually { sway.run("wl-paste", ["--list-types"], harness: h).stdout.contains("text/plain") })
        // A reader that takes a little and leaves: the daemon's write meets a closed pipe.
        let reader = h.run("/bin/sh", ["-c", "WAYLAND_DISPLAY='\(sway.socket)' wl-paste | head -c 1000 >/dev/null"])
        #expect(reader.status == 0)
        #expect(h.clipd(["status"], desk).status == 0, "the daemon survives a reader going away")
        #expect(byteDifference(sway.paste(harness: h).stdoutBytes, big) == nil, "and still serves the next one")
    }

    @Test func losingTheCompositorIsReportedOnceAndSyncGoesOn() throws {
        let (sway, desk, peer) = try desktopAndPeer()
        sway.kill()
        usleep(500_000)
        #expect(h.clipd(["status"], desk).status == 0, "the daemon must outlive its compositor")
        #expect(h.clipd(["send", "--wait", "while the desktop is gone"], peer).status == 0)
        #expect(h.received(desk) == "while the desktop is gone")
        let log = h.logText(desk)
        #expect(log.components(separatedBy: "lost the Wayland compositor").count - 1 == 1, "reported once:\n\(log)")
        // The compositor comes back on the same socket: the daemon reconnects and owns the
        // latest item again.
        try sway.restart()
        #expect(h.eventually(timeout: 40) { sway.paste(harness: h).stdout == "while the desktop is gone" })
        #expect(h.logText(desk).contains("the Wayland compositor is back"))
    }

    @Test func twoCompositorsThroughTwoDaemons() throws {
        let one = try WaylandCompositor(.sway, harness: h)
        let two = try WaylandCompositor(.sway, harness: h)
        let a = try h.startOnCompositor("one", socket: one.socket)
        let b = try h.startOnCompositor("two", socket: two.socket, listen: false)
        try h.pair(b, with: a)
        let copy = try one.startCopy([], data: Array("desk to desk".utf8))
        defer { copy.terminate() }
        #expect(h.eventually { two.paste(harness: h).stdout == "desk to desk" })
        let back = try two.startCopy([], data: Array("and back".utf8))
        defer { back.terminate() }
        #expect(h.eventually { one.paste(harness: h).stdout == "and back" })
    }

    @Test(.enabled(if: XvfbServer.isAvailable, "needs Xvfb"))
    func waylandToX11AndBack() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let x = try XvfbServer(harness: h)
        let wayland = try h.startOnCompositor("wayland", socket: sway.socket)
        let x11 = try h.startOnDisplay("x11", display: x.display, listen: false)
        try h.pair(x11, with: wayland)
        let copy = try sway.startCopy([], data: Array("from sway ✓".utf8))
        defer { copy.terminate() }
        #expect(h.eventually { x.run("xclip", ["-o", "-selection", "clipboard"], harness: h).stdout == "from sway ✓" })
        let owner = try x.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard"], data: Array("from X ✓".utf8))
        defer { owner.terminate() }
        #expect(h.eventually { sway.paste(harness: h).stdout == "from X ✓" })
    }

    @Test func autoPrefersWaylandWhenBothAreSet() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let desk = h.prepare("auto", arguments: ["--backend", "auto"])
        desk.wayland = sway.socket
        desk.display = ":97"  // never opened: Wayland wins
        try h.start(desk)
        #expect(h.clipd(["status"], desk).stdout.contains("backend: wayland \(sway.socket)"))
    }

    @Test(.enabled(if: WaylandCompositor.isAvailable(.weston), "needs weston (make test installs it)"))
    func aCompositorWithoutDataControlIsAClearError() throws {
        let weston = try WaylandCompositor(.weston, harness: h)
        let run = h.run("/usr/bin/env", ["WAYLAND_DISPLAY=\(weston.socket)", "DISPLAY=", DaemonHarness.binary,
                                         "run", "--home", h.root + "/refused", "--backend", "wayland"])
        #expect(run.status == 1)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line: \(run.stderr)")
        for words in ["ext_data_control_manager_v1", "zwlr_data_control_manager_v1", "--backend x11", "--backend memory"] {
            #expect(run.stderr.contains(words), "\(words) missing from: \(run.stderr)")
        }
        // `auto` with an X display falls back to X11 through it (as on GNOME with XWayland).
        let x = try XvfbServer(harness: h)
        let desk = h.prepare("fallback", arguments: ["--backend", "auto"])
        desk.wayland = weston.socket
        desk.display = x.display
        try h.start(desk)
        #expect(h.clipd(["status"], desk).stdout.contains("backend: x11 \(x.display)"))
        #expect(h.logText(desk).contains("not using Wayland"))
    }

    /// An item as a peer would hand it to a backend.
    static func item(_ representations: KeyValuePairs<String, String>, counter: UInt64, selection: Selection = .clipboard) -> ClipItem {
        let parts = representations.map { ($0.key, Array($0.value.utf8)) }
        let header = ItemHeader(selection: selection, id: ItemID(origin: DeviceID(bytes: [UInt8](repeating: 7, count: 16)), counter: counter),
                                clock: HybridTimestamp(milliseconds: counter, logical: 0),
                                representations: parts.map { RepresentationInfo(mimeType: $0.0, size: UInt64($0.1.count)) })
        return ClipItem(header: header, data: parts.flatMap(\.1))
    }

    // MARK: Issue 20: what real owners send, and pastes that cannot be served

    /// A list of files ending in a NUL (as pcmanfm sends it) loses the NUL on Wayland too: the
    /// files go with it, and the peer pastes copies of them.
    @Test func aFileListEndingInNULArrivesAsFiles() throws {
        let (sway, desk, peer) = try desktopAndPeer()
        let source = h.root + "/copied"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: source + "/report.txt", contents: Data("report".utf8))
        let copy = try sway.startCopy(["--type", "text/uri-list"], data: Array(URIList.fileURI(source + "/report.txt").utf8) + [0])
        defer { copy.terminate() }
        #expect(h.eventually { h.clipd(["recv", "-l"], peer).stdout.contains("x-special/gnome-copied-files") })
        #expect(!h.clipd(["recv", "-t", "text/uri-list"], desk).stdoutBytes.contains(0))
        let pasted = h.clipd(["recv", "-t", "text/uri-list"], peer)
        let copies = URIList.uris(pasted.stdoutBytes).compactMap(URIList.localPath)
        #expect(copies.count == 1 && copies.first.flatMap { FileManager.default.contents(atPath: $0) } == Data("report".utf8), "\(pasted.stdout) \(pasted.stderr)")
    }

    /// A paste clipd cannot serve gets its pipe closed at once, empty; the log says why in
    /// one line and `clipd status` says the item could not be delivered.
    @Test func aPasteThatCannotBeDeliveredEndsAtOnce() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let raw = TrustedRawPeer()
        let (daemon, _) = try raw.startTrustingDaemon("desk", in: h, arguments: ["--backend", "wayland"]) { $0.wayland = sway.socket }
        DesktopApplicationTests.offerRefusedBundle(from: raw, over: try raw.connect(to: daemon))
        #expect(h.eventually { sway.run("wl-paste", ["--list-types"], harness: h).stdout.contains("text/uri-list") })
        let started = Date()
        let paste = sway.paste(type: "text/uri-list", harness: h, timeout: 20)
        #expect(paste.stdoutBytes.isEmpty, "\(paste.stdout)")
        #expect(Date().timeIntervalSince(started) < 5, "answered after \(Date().timeIntervalSince(started)) s")
        let lines = h.logText(daemon).split(separator: "\n").filter { $0.contains("holds a NUL byte") }
        #expect(lines.count == 1 && lines[0].contains("refused a paste of the clipboard item"), "\(lines)")
        #expect(h.clipd(["status"], daemon).stdout.contains("could not be delivered: cannot write the copied files"))
    }

    /// GTK 3 on Wayland offers text under the X names and the MIME ones, all with the
    /// application's own line ends (its CR LF conversion of `text/plain` is X11's); clipd
    /// reads UTF8_STRING and the text arrives as it was.
    @Test(.enabled(if: GTKClipboard.isAvailable && GTKClipboard.canTypeOnWayland, "needs python3-gi, GTK 3 and wtype (make test installs them)"))
    func multiLineTextCopiedInGTKKeepsItsLineEnds() throws {
        let (sway, _, peer) = try desktopAndPeer()
        let text = "first line\nsecond line\n\tindented ✓"
        _ = try GTKClipboard.own(text, on: sway, harness: h)
        let types = Set(sway.run("wl-paste", ["--list-types"], harness: h).stdout.split(separator: "\n").map(String.init))
        #expect(types.isSuperset(of: ["UTF8_STRING", "text/plain;charset=utf-8", "text/plain", "STRING", "TEXT"]), "\(types)")
        #expect(h.eventually { h.received(peer) == text })
    }
}
