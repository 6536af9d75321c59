@testable import ClipDaemon
import ClipSync
import ClipWire
import ClipboardBackends
import Testing

/// Issue 20: what clipd makes of the values real owners send, and of a clipboard manager's
/// restores, without a desktop.
@Suite("Desktop values: line ends, terminators, Latin-1, managers' restores")
struct DesktopValueTests {
    @Test func utf8StringIsReadBeforeTextPlainWhichToolkitsGiveCRLF() {
        let gtk = ["TIMESTAMP", "TARGETS", "MULTIPLE", "SAVE_TARGETS", "UTF8_STRING", "COMPOUND_TEXT", "TEXT", "STRING",
                   "text/plain;charset=utf-8", "text/plain"]
        #expect(ClipboardPolicy().choose(offered: gtk).map(\.offered) == ["UTF8_STRING"])
        #expect(ClipboardPolicy().choose(offered: ["text/plain", "text/plain;charset=utf-8"]).map(\.offered) == ["text/plain;charset=utf-8"])
        #expect(ClipboardPolicy().choose(offered: ["STRING"]).map(\.offered) == ["STRING"])
    }

    @Test func textLikeValuesLoseTheirCTerminatorsAndNothingElseDoes() {
        let list = Array("file:///tmp/a\r\nfile:///tmp/b".utf8)
        #expect(ClipboardPolicy.storedValue(list + [0], readAs: "text/uri-list", storedAs: "text/uri-list") == list)
        #expect(ClipboardPolicy.storedValue(list + [0, 0], readAs: "x-special/gnome-copied-files", storedAs: "x-special/gnome-copied-files") == list)
        #expect(ClipboardPolicy.storedValue(Array("<b>".utf8) + [0], readAs: "text/html", storedAs: "text/html") == Array("<b>".utf8))
        #expect(ClipboardPolicy.storedValue([0x89, 0x50, 0], readAs: "image/png", storedAs: "image/png") == [0x89, 0x50, 0], "binary kept whole")
        let utf16HTML: [UInt8] = [0xFF, 0xFE, 0x3C, 0x00, 0x62, 0x00, 0x3E, 0x00]  // "<b>" in UTF-16LE, as Firefox offered it
        #expect(ClipboardPolicy.storedValue(utf16HTML, readAs: "text/html", storedAs: "text/html") == utf16HTML, "UTF-16 kept whole")
        let mozURL: [UInt8] = [0x68, 0x00, 0x3A, 0x00]  // "h:" in UTF-16LE, no mark
        #expect(ClipboardPolicy.storedValue(mozURL, readAs: "text/x-moz-url", storedAs: "text/x-moz-url") == mozURL, "other text/* kept whole")
        #expect(ClipboardPolicy.storedValue([0x67, 0xFC, 0], readAs: "STRING", storedAs: ClipboardPolicy.textMIME) == Array("gü".utf8))
    }

    @Test func latin1HoldsWhatItCanAndRefusesTheRest() {
        #expect(Latin1.latin1(fromUTF8: Array("naïve café".utf8)) == [0x6E, 0x61, 0xEF, 0x76, 0x65, 0x20, 0x63, 0x61, 0x66, 0xE9])
        #expect(Latin1.latin1(fromUTF8: Array("ÿ€".utf8)) == nil, "the euro sign is no Latin-1 character")
        #expect(Latin1.latin1(fromUTF8: [0xC3]) == nil, "not UTF-8")
        let every = (0...255).map { UInt8($0) }
        #expect(Latin1.latin1(fromUTF8: Latin1.utf8(fromLatin1: every)) == every)
    }

    @Test func aURIListKeepsOnlyURIs() {
        let list = Array("# copied\r\nfile:///tmp/a%20b\r\n\tfile:///tmp/c \r\nfile:///tmp/d\0".utf8) + [0]
        #expect(URIList.uris(list) == ["file:///tmp/a%20b", "file:///tmp/c", "file:///tmp/d"])
        #expect(URIList.uris(Array("file:///tmp/x\0y\nhttps://example.org/\n".utf8)) == ["https://example.org/"])
        #expect(URIList.localPath("file:///tmp/x%00y") == nil, "no path holds a NUL")
    }

    @Test func aRootNameWithANULSaysSo() {
        let bundle = FileBundle(roots: [FileBundle.Root(uri: "file:///tmp/report.txt", name: "report.txt\0")],
                                entries: [.init(kind: .file, path: "report.txt\0", mode: 0o644, bytes: [1])]).encoded()
        #expect(throws: WireError.malformed("file bundle: root name 'report.txt?' holds a NUL byte")) { try FileBundle.decode(bundle) }
    }

    static func item(_ text: String, counter: UInt64, clock: UInt64) -> ClipItem {
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID(bytes: Array(repeating: 7, count: DeviceID.byteCount)), counter: counter),
                                clock: HybridTimestamp(rawValue: clock),
                                representations: [RepresentationInfo(mimeType: ClipboardPolicy.textMIME, size: UInt64(text.utf8.count))])
        return ClipItem(header: header, data: Array(text.utf8))
    }

    static func copy(_ text: String) -> LocalCopy { LocalCopy(selection: .clipboard, representations: [(ClipboardPolicy.textMIME, Array(text.utf8))]) }

    @Test func olderTextPutBackAMomentAfterANewerItemIsARestore() {
        var guardian = RestoreGuard()
        let older = Self.item("older", counter: 1, clock: 100), newer = Self.item("newer", counter: 2, clock: 200)
        guardian.gaveDesktop(older.header, held: older, now: 10)
        guardian.gaveDesktop(newer.header, held: newer, now: 20)
        #expect(guardian.isRestore(Self.copy("older"), current: newer, now: 20.3))
        #expect(!guardian.isRestore(Self.copy("older"), current: newer, now: 20 + RestoreGuard.window + 0.1), "later: a person's copy")
        #expect(!guardian.isRestore(Self.copy("never seen"), current: newer, now: 20.3), "new text is a copy")
        #expect(!guardian.isRestore(Self.copy("newer"), current: newer, now: 20.3), "the current text again is no older item")
        #expect(!guardian.isRestore(Self.copy("newer"), current: older, now: 20.3), "text of a newer item is never a restore")
    }
}
