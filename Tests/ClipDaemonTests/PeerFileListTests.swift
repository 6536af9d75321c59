import ClipTestSupport
import ClipWire
import Foundation
import Testing

/// Issue 19, finding 8: what a peer's list of files may name on this machine. A `file:`
/// URI a peer sends without the file names a file of this machine; shown on the desktop, a
/// clipboard manager's re-copy (an X client that reads the list and owns it again, as
/// all-format managers do) had clipd bundle that local file and send it to every peer. The
/// rule: a peer's list names here only copies of files it sent; other schemes stay.
@Suite("Integration: a peer's lists of files on this desktop", .serialized)
struct PeerFileListTests {
    let h = DaemonHarness()

    @Test(.enabled(if: XvfbServer.isAvailable, "needs Xvfb (make test installs it)"))
    func aPeersListNamesOnlyCopiesOfWhatItSentAndARecopySendsNoLocalFile() throws {
        let secretDirectory = h.root + "/victim/.ssh"
        try FileManager.default.createDirectory(atPath: secretDirectory, withIntermediateDirectories: true)
        let secret = "-----BEGIN OPENSSH PRIVATE KEY----- \(UUID().uuidString)"
        try secret.write(toFile: secretDirectory + "/id_rsa", atomically: true, encoding: .utf8)
        let secretURI = URIList.fileURI(secretDirectory + "/id_rsa")
        let named = [secretURI, "FILE:" + secretDirectory + "/id_rsa", "file://localhost" + secretDirectory + "/id_rsa"]
        let list = (["file:///home/mallory/a.txt"] + named + ["https://example.com/page"]).map { $0 + "\r\n" }.joined()

        for withBundle in [true, false] {
            let x = try XvfbServer(harness: h)
            let raw = TrustedRawPeer()
            let daemon = h.prepare(withBundle ? "bundled" : "bare", arguments: ["--backend", "x11"])
            raw.trust(in: daemon)
            daemon.display = x.display
            try h.start(daemon)
            defer {
                h.stop(daemon)
                x.kill()
            }
            let peer = try raw.connect(to: daemon)

            var parts: [(String, [UInt8])] = [("text/uri-list", Array(list.utf8))]
            if withBundle {
                let bundle = FileBundle(roots: [FileBundle.Root(uri: "file:///home/mallory/a.txt", name: "a.txt")],
                                        entries: [.init(kind: .file, path: "a.txt", mode: 0o644, bytes: Array("from mallory".utf8))])
                parts.append((FileBundle.mimeType, bundle.encoded()))
            }
            let template = raw.header(size: 1)
            let header = ItemHeader(selection: .clipboard, id: template.id, clock: template.clock,
                                    representations: parts.map { RepresentationInfo(mimeType: $0.0, size: UInt64($0.1.count)) })
            peer.sendMessage(.offer(.init(header: header, inlineData: parts.flatMap(\.1))))

            // What the desktop is given: no path of this machine, the link kept.
            let probe = try #require(X11Probe(displayName: x.display, watch: false))
            var shown: [UInt8] = []
            #expect(h.eventually {
                shown = probe.paste(target: "text/uri-list", timeout: 5) ?? []
                return String(decoding: shown, as: UTF8.self).contains("https://example.com/page")
            }, "\(String(decoding: shown, as: UTF8.self))")
            let text = String(decoding: shown, as: UTF8.self)
            #expect(!text.contains("/victim/"), "the desktop was shown a local path: \(text)")
            #expect(text.contains(withBundle ? "/files/" : "https:"), "\(text)")
            #expect(withBundle == text.contains("a.txt"), "\(text)")
            if withBundle {
                let gnome = String(decoding: probe.paste(target: "x-special/gnome-copied-files", timeout: 5) ?? [], as: UTF8.self)
                #expect(gnome.hasPrefix("copy\n") && gnome.contains("a.txt") && !gnome.contains("/victim/"), "\(gnome)")
            }
            #expect(!h.clipd(["recv", "-t", "text/uri-list"], daemon).stdout.contains("/victim/"))

            // A clipboard manager's re-copy: the list is read and owned again by another client.
            let recopy = try x.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard", "-t", "text/uri-list"], data: shown)
            defer { recopy.stop() }
            var sent: SessionMessage.Offer?
            for _ in 0..<200 where sent == nil {
                if case .offer(let offer) = try peer.readMessage(), offer.header.id.origin != raw.deviceID { sent = offer }
            }
            let offer = try #require(sent, "the re-copy was not sent to the peer")
            let types = offer.header.representations.map(\.mimeType)
            let inline = String(decoding: offer.inlineData ?? [], as: UTF8.self)
            #expect(offer.inlineData != nil, "a small item goes inline")
            #expect(!inline.contains(secret), "the local secret was sent to the peer")
            #expect(withBundle == types.contains(FileBundle.mimeType), "\(types)")
            if withBundle { #expect(inline.contains("from mallory")) }
            AttackReport.record("a peer's file: URI of a local secret (\(withBundle ? "beside a bundle" : "no bundle")), re-copied by another X client",
                                "desktop shown a local path: \(text.contains("/victim/")), secret sent on: \(inline.contains(secret))",
                                held: !text.contains("/victim/") && !inline.contains(secret))
        }
    }
}
