import ClipSync
import ClipTestSupport
import ClipWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Large items against real daemons: offered lazily, fetched when something pastes them,
/// streamed to the paste as they arrive (X11 INCR, a Wayland pipe, `clipd recv`), passed on
/// by a relay that never holds them, sent again as a delta, with progress for people.
@Suite("Integration: large items (fetch on paste, streaming, relays, deltas, progress)", .serialized)
struct LargeItemIntegrationTests {
    let h = DaemonHarness()

    /// A daemon with `arguments` trusting a raw peer, which has offered it `bytes` as a
    /// lazily fetched item (the daemon acknowledged it as paste-ready).
    func daemonWithLazyItem(_ bytes: [UInt8], mimeType: String = "text/plain;charset=utf-8", arguments: [String] = [],
                            configure: (DaemonHarness.Daemon) -> Void = { _ in }) throws -> (DaemonHarness.Daemon, RawPeer, ClipItem) {
        let raw = TrustedRawPeer()
        let (daemon, _) = try raw.startTrustingDaemon("desk", in: h, arguments: arguments, configure: configure)
        let peer = try raw.connect(to: daemon)
        let item = ItemChunking.chunked(header: raw.header(size: UInt64(bytes.count), mimeType: mimeType), data: bytes)
        peer.sendMessage(.offer(.init(header: item.header, manifest: item.manifest!)))
        guard case .ack(let ack) = try peer.readMessage(), ack.status == .applied else { throw HarnessError("the item was not taken") }
        return (daemon, peer, item)
    }

    /// Waits for the daemon's fetch of the item, answers its first `first` bytes, and leaves
    /// the rest for later.
    func answerPart(of item: ClipItem, on peer: RawPeer, first: Int) throws -> SessionMessage.Fetch {
        guard case .fetch(let fetch) = try peer.readMessage() else { throw HarnessError("the paste did not fetch") }
        peer.sendData(item.bytes(representation: 0), range: Int(fetch.offset)..<Int(fetch.offset) + first, requestID: fetch.requestID, rangeStart: 0)
        return fetch
    }

    func answerRest(of item: ClipItem, _ fetch: SessionMessage.Fetch, on peer: RawPeer, from: Int) {
        peer.sendData(item.bytes(representation: 0), range: from..<Int(fetch.offset + fetch.length), requestID: fetch.requestID)
        peer.sendMessage(.dataEnd(.init(requestID: fetch.requestID, length: fetch.length)))
    }

    // MARK: Streaming pastes

    @Test(.enabled(if: XvfbServer.isAvailable, "needs Xvfb (make test installs it)"))
    func anX11PasteReceivesBytesBeforeTheWholeItemIsHere() throws {
        let x = try XvfbServer(harness: h)
        let bytes = TestData.text(3 << 20)
        let (_, peer, item) = try daemonWithLazyItem(bytes, arguments: ["--backend", "x11"]) { $0.display = x.display }
        let progress = ArrivalQueue<Int>()
        let pasted = ArrivalQueue<[UInt8]?>()
        let display = x.display
        Thread {
            let probe = X11Probe(displayName: display, watch: false)
            // Until the daemon owns the selection, a paste is refused at once: try again.
            for _ in 0..<200 {
                if let bytes = probe?.paste(target: "UTF8_STRING", timeout: 20, progress: { progress.append($0) }) { return pasted.append(bytes) }
                usleep(25_000)
            }
            pasted.append(nil)
        }.start()
        let fetch = try answerPart(of: item, on: peer, first: 1 << 20)
        #expect(progress.first(timeout: 10) { $0 >= 512 << 10 } != nil, "the paste got no bytes while the rest was not fetched yet")
        #expect(pasted.next(timeout: 0.2) == nil, "the paste finished before the item was all here")
        answerRest(of: item, fetch, on: peer, from: 1 << 20)
        let result = try #require(pasted.next(timeout: 20))
        #expect(result.map { byteDifference($0, bytes) } == .some(nil))
    }

    @Test(.enabled(if: WaylandCompositor.isAvailable(.sway) && WaylandCompositor.clipboardToolsAvailable, "needs sway and wl-clipboard"))
    func aWaylandPasteReceivesBytesBeforeTheWholeItemIsHere() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let bytes = TestData.text(3 << 20)
        let (_, peer, item) = try daemonWithLazyItem(bytes, arguments: ["--backend", "wayland"]) { $0.wayland = sway.socket }
        #expect(h.eventually { sway.run("wl-paste", ["--list-types"], harness: h).stdout.contains("text/plain") }, "the daemon never owned the selection")
        let output = h.root + "/wl-paste.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let paste = try ChildProcess("/usr/bin/env", ["WAYLAND_DISPLAY=\(sway.socket)", "wl-paste", "--no-newline"], stdout: .file(output))
        let fetch = try answerPart(of: item, on: peer, first: 1 << 20)
        #expect(h.eventually { (FileManager.default.contents(atPath: output)?.count ?? 0) >= 512 << 10 }, "wl-paste got no bytes while the rest was not fetched yet")
        #expect(paste.isRunning)
        answerRest(of: item, fetch, on: peer, from: 1 << 20)
        paste.waitUntilExit()
        #expect(byteDifference([UInt8](FileManager.default.contents(atPath: output) ?? Data()), bytes) == nil)
    }

    @Test func recvPrintsBytesAsTheyArrive() throws {
        let bytes = TestData.pattern(3 << 20)
        let (daemon, peer, item) = try daemonWithLazyItem(bytes, mimeType: "application/octet-stream")
        let recv = try h.startCLI(["recv"], daemon)
        let fetch = try answerPart(of: item, on: peer, first: 1 << 20)
        #expect(h.eventually { (FileManager.default.contents(atPath: recv.stdoutPath)?.count ?? 0) >= 512 << 10 })
        #expect(recv.process.isRunning)
        answerRest(of: item, fetch, on: peer, from: 1 << 20)
        let result = h.finish(recv)
        #expect(result.status == 0)
        #expect(byteDifference(result.stdoutBytes, bytes) == nil)
    }

    @Test func aPasteWhoseSourceVanishesFailsInOneLine() throws {
        let bytes = TestData.pattern(2 << 20)
        var recv: DaemonHarness.RunningCommand?
        var daemon: DaemonHarness.Daemon?
        do {
            let (desk, peer, item) = try daemonWithLazyItem(bytes, mimeType: "application/octet-stream")
            daemon = desk
            recv = try h.startCLI(["recv"], desk)
            _ = try answerPart(of: item, on: peer, first: 512 << 10)
        }  // the only source hangs up a quarter of the way through
        let result = h.finish(try #require(recv))
        let daemonGone = try #require(daemon)
        defer { #expect(h.clipd(["status"], daemonGone).status == 0, "the daemon lives on") }
        #expect(result.status == 1)
        #expect(result.stderr.contains("the clipboard item's transfer failed"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    // MARK: Files

    @Test(.enabled(if: XvfbServer.isAvailable, "needs Xvfb (make test installs it)"))
    func filesCopiedInAFileManagerArriveAsFilesWhenPasted() throws {
        let x = try XvfbServer(harness: h)
        let desk = try h.startOnDisplay("desk", display: x.display)
        let peer = try h.start("peer", listen: false)
        try h.pair(peer, with: desk)
        // What a file manager puts on the clipboard: the URIs of a file and a folder.
        let source = h.root + "/copied things"
        try FileManager.default.createDirectory(atPath: source + "/folder/inner", withIntermediateDirectories: true)
        let report = TestData.text(300_000), note = Array("a note ✓\n".utf8), deep = TestData.pattern(5000)
        _ = FileManager.default.createFile(atPath: source + "/report.txt", contents: Data(report))
        _ = FileManager.default.createFile(atPath: source + "/folder/note.txt", contents: Data(note))
        _ = FileManager.default.createFile(atPath: source + "/folder/inner/deep.bin", contents: Data(deep))
        let list = "\(URIList.fileURI(source + "/report.txt"))\r\n\(URIList.fileURI(source + "/folder"))\r\nhttps://example.org/kept\r\n"
        let copier = try x.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard", "-t", "text/uri-list"], data: Array(list.utf8))
        defer { copier.terminate() }
        #expect(h.eventually { h.clipd(["recv", "-l"], peer).stdout.contains("x-special/gnome-copied-files") })
        #expect(!h.clipd(["recv", "-l"], peer).stdout.contains(FileBundle.mimeType), "the bundle is not shown to applications")
        let files = peer.home + "/files"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: files)) ?? []).isEmpty, "nothing is fetched before a paste")
        let pasted = h.clipd(["recv", "-t", "text/uri-list"], peer)
        #expect(pasted.status == 0, "\(pasted.stderr)")
        let uris = URIList.uris(pasted.stdoutBytes)
        #expect(uris.count == 3 && uris[2] == "https://example.org/kept")
        let copies = uris.prefix(2).compactMap(URIList.localPath)
        #expect(copies.count == 2 && copies.allSatisfy { $0.hasPrefix(files + "/") }, "\(uris)")
        guard copies.count == 2 else { return }
        #expect(FileManager.default.contents(atPath: copies[0]).map { [UInt8]($0) } == report)
        #expect(FileManager.default.contents(atPath: copies[1] + "/note.txt").map { [UInt8]($0) } == note)
        #expect(FileManager.default.contents(atPath: copies[1] + "/inner/deep.bin").map { [UInt8]($0) } == deep)
        let gnome = h.clipd(["recv", "-t", "x-special/gnome-copied-files"], peer).stdout
        #expect(gnome == "copy\n" + uris.joined(separator: "\n"), "a file manager pastes copies, never moves")
    }

    // MARK: Relays and deltas

    @Test func aPasteThroughARelayIsFetchedFromTheOriginAndTheRelayKeepsNoCopy() throws {
        let origin = try h.start("origin")
        let relay = try h.start("relay")
        let laptop = try h.start("laptop", listen: false)
        try h.pair(relay, with: origin)
        try h.pair(laptop, with: relay)
        #expect(h.eventually { h.clipd(["status"], relay).stdout.contains("2 connected") })
        let bytes = TestData.pattern(6 << 20)
        #expect(h.clipd(["send", "--wait"], origin, stdin: bytes).status == 0)
        #expect(h.eventually { h.clipd(["status"], laptop).stdout.contains("6.0 MiB application/octet-stream") })
        #expect(h.clipd(["status"], relay).stdout.contains("(fetched when pasted)"))
        #expect(byteDifference(h.clipd(["recv"], laptop).stdoutBytes, bytes) == nil)
        let status = h.clipd(["status"], relay).stdout
        #expect(status.contains("(fetched when pasted)"), "the relay passed the item on without keeping it")
        #expect(status.contains("item data: received 6.0 MiB (6291456 bytes), sent 6.0 MiB (6291456 bytes)"), "\(status)")
    }

    @Test func copyingAnEditedLargeTextAgainSendsOnlyWhatChanged() throws {
        let (a, b) = try h.startPairedDaemons()
        #expect(h.eventually { h.clipd(["status"], a).stdout.contains("1 connected") })
        var text = TestData.text(50_000_000)
        #expect(h.clipd(["send", "--wait"], a, stdin: text).status == 0)
        #expect(byteDifference(h.clipd(["recv"], b).stdoutBytes, text) == nil)
        let before = try receivedMiB(b)
        text.replaceSubrange(25_000_000..<25_000_100, with: Array("an edit in the middle of fifty megabytes".utf8))
        #expect(h.clipd(["send", "--wait"], a, stdin: text).status == 0)
        #expect(byteDifference(h.clipd(["recv"], b).stdoutBytes, text) == nil)
        let delta = try receivedMiB(b) - before
        #expect(delta * 1_048_576 < 0.05 * Double(text.count), "the edited copy fetched \(delta) MiB again")
        #expect(delta >= 0)
    }

    /// The item bytes a daemon received from peers, from `clipd status`, in MiB.
    func receivedMiB(_ daemon: DaemonHarness.Daemon) throws -> Double {
        Double(try DaemonHarness.receivedBytes(h.clipd(["status"], daemon).stdout)) / 1_048_576
    }

    // MARK: Progress

    @Test func sendShowsAProgressBarOnATerminalAndNothingElsewhere() throws {
        let (a, _) = try h.startPairedDaemons()
        let bytes = TestData.pattern(32 << 20)
        let file = h.root + "/32MiB.bin"
        _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))
        // script(1) runs the command on a pseudo-terminal and copies what it shows.
        let onTerminal = h.run("/usr/bin/script", ["-qec", "\(DaemonHarness.binary) send --home \(a.home) < \(file)", "/dev/null"])
        #expect(onTerminal.status == 0)
        #expect(onTerminal.stdout.contains("sending [##############################] 100% 32.0 MiB of 32.0 MiB"), "\(onTerminal.stdout)")
        let piped = h.run("/bin/sh", ["-c", "\(DaemonHarness.binary) send --home \(a.home) < \(file)"])
        #expect(piped.status == 0 && piped.stderr.isEmpty, "no progress when standard error is not a terminal: \(piped.stderr)")
    }
}
