import ClipWire
import Testing

/// Type names from peers and applications: what is carried, what is refused, and text from
/// outside made printable (issue 19, finding 3).
@Suite("MIME type names and printable text")
struct MIMETypeTests {
    /// Names real applications use on X11 and Wayland.
    @Test(arguments: ["text/plain;charset=utf-8", "text/plain; charset=utf-8", "text/html", "UTF8_STRING", "STRING", "_NETSCAPE_URL",
                      "x-special/gnome-copied-files", "x-kde-passwordManagerHint", "text/uri-list", "image/png", "image/x-MS-bmp",
                      "chromium/x-web-custom-data", "application/vnd.oasis.opendocument.text",
                      "application/x-qt-windows-mime;value=\"Rich Text Format\"", "text/x-moz-url-priv", "application/x-clipd-test"])
    func realTypesAreCarried(name: String) {
        #expect(MIMEType.problem(name) == nil, "\(MIMEType.problem(name) ?? "")")
    }

    @Test(arguments: ["", "text/plain\u{1b}]0;pwned\u{07}", "text/plain\nFAKE log line", "text/ plain", " text/plain", "text/plain;",
                      "text/plain;charset", "text/plain;charset=\"utf-8", "texte/plain\u{e9}", "a/b/c", "text/plain\t",
                      "text/html;x=\"\u{1b}[31m\"", String(repeating: "a", count: 256)])
    func anythingElseIsRefused(name: String) {
        #expect(MIMEType.problem(name) != nil, "\(name.debugDescription) was taken")
    }

    @Test func anOfferNamingAnEscapeSequenceIsMalformed() throws {
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID(bytes: Array(0..<16)), counter: 1),
                                clock: HybridTimestamp(milliseconds: 1, logical: 0),
                                representations: [RepresentationInfo(mimeType: "text/x\u{1b}[2J\nforged", size: 2)])
        let bytes = SessionMessage.offer(.init(header: header, inlineData: [1, 2])).encoded()
        #expect(throws: WireError.self) { try SessionMessage.decode(bytes) }
    }

    @Test func printableTextReplacesWhatCouldRewriteATerminalOrForgeALine() {
        #expect(Printable.text("name\u{1b}]0;title\u{07}\nnext") == "name?]0;title??next")
        #expect(Printable.text("bidi\u{202e}txt.exe\u{200b}") == "bidi?txt.exe?")
        #expect(Printable.text("café ✂ 日本") == "café ✂ 日本")
        #expect(Printable.lines("a\tb\nc\u{1b}[31m") == "a\tb\nc?[31m")
    }
}
