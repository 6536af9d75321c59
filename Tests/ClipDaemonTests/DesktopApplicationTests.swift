import ClipTestSupport
import ClipWire
@testable import ClipboardBackends
import Foundation
import Testing

/// Issue 20: clipd beside real desktop applications on Xvfb: a GTK 3 owner (python3-gi, GTK's
/// own clipboard code), a file manager's list of files with pcmanfm's trailing NUL, clipboard
/// managers that restore their history, an owner of Latin-1 STRING.
@Suite("Integration: real desktop applications on Xvfb", .serialized,
       .enabled(if: XvfbServer.isAvailable && GTKClipboard.isAvailable, "needs Xvfb and python3-gi with GTK 3 (make test installs them)"))
struct DesktopApplicationTests {
    let h = DaemonHarness()

    func xclipOut(_ x: XvfbServer, _ target: String) -> DaemonHarness.Result {
        x.xclipOut(["-selection", "clipboard", "-t", target], harness: h)
    }

    /// A daemon on a fresh Xvfb, paired with a memory daemon.
    func desktopAndPeer() throws -> (XvfbServer, DaemonHarness.Daemon, DaemonHarness.Daemon) {
        let x = try XvfbServer(harness: h)
        let desk = try h.startOnDisplay("desk", display: x.display)
        let peer = try h.start("peer", listen: false)
        try h.pair(peer, with: desk)
        return (x, desk, peer)
    }

    /// Two daemons on two fresh Xvfb servers, paired.
    func twoDesktops() throws -> (x1: XvfbServer, x2: XvfbServer, one: DaemonHarness.Daemon, two: DaemonHarness.Daemon) {
        let x1 = try XvfbServer(harness: h)
        let x2 = try XvfbServer(harness: h)
        let one = try h.startOnDisplay("one", display: x1.display)
        let two = try h.startOnDisplay("two", display: x2.display, listen: false)
        try h.pair(two, with: one)
        return (x1, x2, one, two)
    }

    /// Has `raw` offer the daemon an item whose file bundle names its root `report.txt` and a
    /// NUL: a bundle every paste of the item must refuse.
    static func offerRefusedBundle(from raw: TrustedRawPeer, over peer: RawPeer) {
        let list = Array("file:///home/someone/report.txt\r\n".utf8)
        let bundle = FileBundle(roots: [FileBundle.Root(uri: "file:///home/someone/report.txt", name: "report.txt\0")],
                                entries: [.init(kind: .file, path: "report.txt\0", mode: 0o644, bytes: Array("hi".utf8))]).encoded()
        let template = raw.header(size: 1)
        let header = ItemHeader(selection: .clipboard, id: template.id, clock: template.clock,
                                representations: [RepresentationInfo(mimeType: "text/uri-list", size: UInt64(list.count)),
                                                  RepresentationInfo(mimeType: FileBundle.mimeType, size: UInt64(bundle.count))])
        peer.sendMessage(.offer(.init(header: header, inlineData: list + bundle)))
    }

    // MARK: Line ends and encodings

    /// GTK converts LF to CR LF for `text/plain` targets (MIME text); UTF8_STRING is the text
    /// as the application has it, and is what clipd reads.
    @Test func multiLineTextCopiedInGTKKeepsItsLineEnds() throws {
        let (x, _, peer) = try desktopAndPeer()
        let text = "first line\nsecond line\n\tindented ✓"
        _ = try GTKClipboard.start(["own", text], on: x, harness: h)
        #expect(xclipOut(x, "text/plain;charset=utf-8").stdout.contains("\r\n"), "GTK adds CR to text/plain (what made the bug)")
        #expect(h.eventually { h.received(peer) == text })
        #expect(h.clipd(["recv"], peer).stdoutBytes.contains(13) == false)
    }

    /// ICCCM's STRING is Latin-1: an owner's 0xFC is ü, and clipd serves STRING in Latin-1,
    /// refusing text Latin-1 cannot hold (UTF8_STRING has it).
    @Test func stringIsLatin1BothWays() throws {
        let (x, _, peer) = try desktopAndPeer()
        // xterm-like: an owner of STRING only.
        let owner = try x.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard", "-t", "STRING"], data: [0x67, 0x72, 0xFC, 0xDF, 0x65])
        #expect(h.eventually { h.received(peer) == "grüße" })
        owner.terminate()
        #expect(h.clipd(["send", "--wait", "naïve café"], peer).status == 0)
        #expect(h.eventually { xclipOut(x, "UTF8_STRING").stdout == "naïve café" })
        #expect(xclipOut(x, "STRING").stdoutBytes == [0x6E, 0x61, 0xEF, 0x76, 0x65, 0x20, 0x63, 0x61, 0x66, 0xE9])
        #expect(h.clipd(["send", "--wait", "日本 ✂"], peer).status == 0)
        #expect(h.eventually { xclipOut(x, "UTF8_STRING").stdout == "日本 ✂" })
        let refused = xclipOut(x, "STRING")
        #expect(refused.status != 0 && refused.stdoutBytes.isEmpty, "no Latin-1 form: refused, \(refused.stdoutBytes)")
    }

    // MARK: Files from a file manager

    /// pcmanfm ends its `text/uri-list` with a NUL. It is no part of the last file's name: the
    /// files arrive, and a paste on the other desktop gets copies of them.
    @Test func aFileManagerListEndingInNULArrivesAsFiles() throws {
        let (x1, x2, one, two) = try twoDesktops()
        let source = h.root + "/copied"
        try FileManager.default.createDirectory(atPath: source + "/folder", withIntermediateDirectories: true)
        let report = Array("quarterly report\n".utf8)
        _ = FileManager.default.createFile(atPath: source + "/report.txt", contents: Data(report))
        _ = FileManager.default.createFile(atPath: source + "/folder/note.txt", contents: Data("a note".utf8))
        let list = Array("\(URIList.fileURI(source + "/folder"))\r\n\(URIList.fileURI(source + "/report.txt"))".utf8) + [0]
        let copier = try x1.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard", "-t", "text/uri-list"], data: list)
        defer { copier.terminate() }
        #expect(h.eventually { h.clipd(["recv", "-l"], two).stdout.contains("x-special/gnome-copied-files") })
        let stored = h.clipd(["recv", "-t", "text/uri-list"], one).stdoutBytes
        #expect(!stored.contains(0), "the NUL is not kept: \(stored)")
        let pasted = xclipOut(x2, "text/uri-list")
        #expect(pasted.status == 0, "\(pasted.stderr)")
        let copies = URIList.uris(pasted.stdoutBytes).compactMap(URIList.localPath)
        #expect(copies.count == 2 && copies.allSatisfy { $0.hasPrefix(two.home + "/files/") }, "\(copies)")
        #expect(copies.last.flatMap { FileManager.default.contents(atPath: $0) }.map { [UInt8]($0) } == report)
        #expect(copies.first.flatMap { FileManager.default.contents(atPath: $0 + "/note.txt") } != nil)
        let gnome = xclipOut(x2, "x-special/gnome-copied-files")
        #expect(gnome.status == 0 && gnome.stdout.hasPrefix("copy\n"))
        #expect(!h.logText(two).contains("malformed"), "\(h.logText(two))")
    }

    /// A paste clipd cannot serve (here: a peer's bundle it must refuse) is refused at once,
    /// the log says why in one line, and `clipd status` says the item could not be delivered.
    @Test func aPasteThatCannotBeDeliveredIsRefusedAtOnce() throws {
        let x = try XvfbServer(harness: h)
        let raw = TrustedRawPeer()
        let (daemon, _) = try raw.startTrustingDaemon("desk", in: h, arguments: ["--backend", "x11"]) { $0.display = x.display }
        Self.offerRefusedBundle(from: raw, over: try raw.connect(to: daemon))
        #expect(h.eventually { xclipOut(x, "TARGETS").stdout.contains("text/uri-list") })
        for target in ["text/uri-list", "x-special/gnome-copied-files", "image/png"] {
            let started = Date()
            let paste = x.run("xclip", ["-o", "-selection", "clipboard", "-t", target], harness: h, timeout: 20)
            #expect(paste.status != 0 && paste.stdoutBytes.isEmpty, "\(target): \(paste.stdout)")
            #expect(Date().timeIntervalSince(started) < 5, "\(target) was answered after \(Date().timeIntervalSince(started)) s")
        }
        let refusals = h.logText(daemon).split(separator: "\n").filter { $0.contains("holds a NUL byte") }
        #expect(refusals.count == 2, "one line a refused paste: \(refusals)")
        #expect(refusals.allSatisfy { $0.contains("refused a paste of the clipboard item") })
        let status = h.clipd(["status"], daemon).stdout
        #expect(status.contains("could not be delivered: cannot write the copied files: malformed file bundle: root name 'report.txt?' holds a NUL byte"), "\(status)")
    }

    // MARK: Clipboard managers

    /// A manager that re-posts an older entry of its history just after clipd gave the
    /// desktop a newer item (as clipit did) does not overwrite the newer item anywhere.
    @Test func aManagerRestoringItsHistoryDoesNotBeatTheNewestCopy() throws {
        let (x, desk, peer) = try desktopAndPeer()
        let (_, log) = try GTKClipboard.start(["repost", "0.05"], on: x, harness: h)
        for text in ["older", "middle", "newest"] {
            #expect(h.clipd(["send", "--wait", text], peer).status == 0)
            #expect(h.eventually { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("seen \(text)\n") == true }, "the manager saw \(text)")
        }
        #expect(h.eventually { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("restoring middle") == true })
        usleep(1_500_000)
        #expect(h.eventually { xclipOut(x, "UTF8_STRING").stdout == "newest" })
        #expect(h.received(peer) == "newest")
        #expect(h.received(desk) == "newest")
        #expect(h.logText(desk).contains("kept the newer clipboard item"))
    }

    /// A person copying the same text again later is a copy like any other, with a
    /// history-restoring manager on the desktop: A copies X, B copies Y, A copies X again.
    @Test func copyingOlderTextAgainLaterStillSyncsAsTheNewest() throws {
        let (x1, x2, _, _) = try twoDesktops()
        _ = try GTKClipboard.start(["manager", "0.2"], on: x1, harness: h)
        _ = try GTKClipboard.start(["manager", "0.2"], on: x2, harness: h)
        func everywhere(_ text: String) -> Bool {
            h.eventually {
                xclipOut(x1, "UTF8_STRING").stdout == text && xclipOut(x2, "UTF8_STRING").stdout == text
            }
        }
        let first = try x1.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard"], data: Array("X".utf8))
        #expect(everywhere("X"))
        let second = try x2.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard"], data: Array("Y".utf8))
        #expect(everywhere("Y"))
        usleep(2_500_000)  // a person, not a manager: later than RestoreGuard.window
        let again = try x1.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard"], data: Array("X".utf8))
        #expect(everywhere("X"))
        usleep(1_000_000)
        #expect(everywhere("X"), "and it stays")
        for owner in [first, second, again] { owner.terminate() }
    }

    /// A manager that handles an owner change late asks with that change's time; clipd, which
    /// took the selection again meanwhile, answers it rather than refusing (a refusal reads as
    /// an empty clipboard, which a manager restores from history).
    @Test func aRequestStampedBeforeTheOwnershipIsAnswered() throws {
        let (x, _, peer) = try desktopAndPeer()
        #expect(h.clipd(["send", "--wait", "first"], peer).status == 0)
        #expect(h.eventually { xclipOut(x, "UTF8_STRING").stdout == "first" })
        let requestor = try #require(X11Probe(displayName: x.display, watch: false))
        let before = requestor.serverTime()
        #expect(h.clipd(["send", "--wait", "second"], peer).status == 0)
        #expect(h.eventually { xclipOut(x, "UTF8_STRING").stdout == "second" })
        #expect(requestor.paste(target: "UTF8_STRING", timeout: 5, time: before) == Array("second".utf8))
    }
}

/// The X11 owner's rule for SelectionClear, against a real server: a clear older than the
/// ownership is stale and leaves clipd answering; a newer one ends the ownership.
@Suite("X11 owner: stale SelectionClear", .enabled(if: XvfbServer.isAvailable, "needs Xvfb (make test installs it)"))
struct StaleSelectionClearTests {
    let h = DaemonHarness()

    @Test func aClearOlderThanTheOwnershipChangesNothing() throws {
        let x = try XvfbServer(harness: h)
        let session = try #require(X11DisplayConnection(displayName: x.display, selections: [.clipboard], policy: ClipboardPolicy(),
                                              mailbox: ReadMailbox(wake: {}), onCopy: { _ in }, log: { _ in }))
        defer { session.close() }
        session.own(DesktopValueTests.item("newest", counter: 1, clock: 1).header, content: HeldContent(DesktopValueTests.item("newest", counter: 1, clock: 1)))
        let taken = try #require(session.owner.ownershipTime(.clipboard))
        session.owner.lost(.clipboard, time: taken - 1)
        #expect(session.owner.ownershipTime(.clipboard) == taken, "a clear read after clipd took the selection again is stale")
        session.owner.lost(.clipboard, time: taken + 1)
        #expect(session.owner.ownershipTime(.clipboard) == nil)
    }
}
