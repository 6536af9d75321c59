import ClipSync
import ClipTestSupport
import ClipWire
import ClipboardBackends
import Foundation
import Testing

/// The Wayland backend on ext-data-control-v1 and on wlr-data-control version 1, which no
/// compositor packaged here offers: clipd-test-compositor (Tests/DataControlCompositor)
/// serves them. The applications are Wayland clients too: clipd's own backend used as a
/// library, one copying and one reading.
@Suite("Integration: Wayland backend on ext-data-control-v1", .serialized,
       .enabled(if: WaylandCompositor.isAvailable(.minimal([])), "needs clipd-test-compositor (swift build makes it)"))
struct ExtDataControlTests {
    let h = DaemonHarness()

    /// A client on `socket` that takes every new item in full, as a paste would.
    func reader(_ socket: String, selections: Set<Selection> = [.clipboard, .primary]) throws -> (WaylandBackend, ArrivalQueue<LocalCopy>) {
        let pasted = ArrivalQueue<LocalCopy>()
        let backend = WaylandBackend(displayName: socket, selections: selections, policy: ClipboardPolicy())
        try backend.start(onCopy: { pasted.append($0) }, onReconnect: {}, log: { _ in })
        return (backend, pasted)
    }

    @Test func extIsPreferredAndCarriesBothSelections() throws {
        let compositor = try WaylandCompositor(.minimal(["--wlr=2", "--ext"]), harness: h)
        let desk = try h.startOnCompositor("desk", socket: compositor.socket, arguments: ["--selections", "clipboard,primary"])
        let peer = try h.start("peer", listen: false, arguments: ["--selections", "clipboard,primary"])
        try h.pair(peer, with: desk)
        #expect(h.clipd(["status"], desk).stdout.contains("(ext_data_control_manager_v1)"), "ext wins when both are offered")

        let copier = WaylandBackend(displayName: compositor.socket, selections: [.clipboard, .primary], policy: ClipboardPolicy())
        try copier.start(onCopy: { _ in }, onReconnect: {}, log: { _ in })
        defer { copier.stop() }
        let (paster, pasted) = try reader(compositor.socket)
        defer { paster.stop() }

        copier.own(WaylandIntegrationTests.item(["text/plain;charset=utf-8": "over ext ✓", "text/html": "<i>over ext</i>"], counter: 1))
        #expect(h.eventually { h.received(peer) == "over ext ✓" })
        #expect(h.clipd(["recv", "-t", "text/html"], peer).stdout == "<i>over ext</i>")
        _ = pasted.next(timeout: 5)  // the paster sees the copier's item too

        #expect(h.clipd(["send", "--wait", "from the peer"], peer).status == 0)
        let clip = try #require(pasted.next(timeout: 10))
        #expect(clip.selection == .clipboard && clip.representations.map(\.mimeType) == ["text/plain;charset=utf-8"])
        #expect(clip.representations.first?.bytes == Array("from the peer".utf8))

        #expect(h.clipd(["send", "--wait", "-p", "primary from the peer"], peer).status == 0)
        let primary = try #require(pasted.next(timeout: 10))
        #expect(primary.selection == .primary && primary.representations.first?.bytes == Array("primary from the peer".utf8))
        copier.own(WaylandIntegrationTests.item(["text/plain;charset=utf-8": "selected over ext"], counter: 2, selection: .primary))
        #expect(h.eventually { h.received(peer, primary: true) == "selected over ext" })
    }

    @Test func wlrVersionOneSyncsTheClipboardAndSaysPrimaryIsNot() throws {
        let compositor = try WaylandCompositor(.minimal(["--wlr=1"]), harness: h)
        let desk = try h.startOnCompositor("desk", socket: compositor.socket, arguments: ["--selections", "clipboard,primary"])
        let peer = try h.start("peer", listen: false, arguments: ["--selections", "clipboard,primary"])
        try h.pair(peer, with: desk)
        #expect(h.clipd(["status"], desk).stdout.contains("(zwlr_data_control_manager_v1)"))
        #expect(h.logText(desk).contains("version 1: the primary selection is not synced"))
        let (paster, pasted) = try reader(compositor.socket, selections: [.clipboard])
        defer { paster.stop() }
        #expect(h.clipd(["send", "--wait", "clipboard over wlr v1"], peer).status == 0)
        #expect(pasted.next(timeout: 10)?.representations.first?.bytes == Array("clipboard over wlr v1".utf8))
    }
}
