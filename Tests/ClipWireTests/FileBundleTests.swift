import ClipWire
import Testing

@Suite("File bundles and URI lists")
struct FileBundleTests {
    let roots = [FileBundle.Root(uri: "file:///home/a/dir", name: "dir")]

    @Test func aBundleSurvivesTheWire() throws {
        let bundle = FileBundle(roots: roots + [FileBundle.Root(uri: "file:///x/f.txt", name: "f.txt")], entries: [
            .init(kind: .directory, path: "dir", mode: 0o755),
            .init(kind: .file, path: "dir/a", mode: 0o644, bytes: [1, 2, 3]),
            .init(kind: .directory, path: "dir/sub", mode: 0o700),
            .init(kind: .file, path: "dir/sub/b", mode: 0o600, bytes: []),
            .init(kind: .file, path: "f.txt", mode: 0o644, bytes: Array("hi".utf8)),
        ])
        #expect(try FileBundle.decode(bundle.encoded()) == bundle)
    }

    @Test(arguments: ["../evil", "dir/../../evil", "/etc/passwd", "other/x", "dir//x", "dir/missing/x", "dir/.", ""])
    func aPathThatCouldLeaveItsDirectoryIsRefused(path: String) {
        let bundle = FileBundle(roots: roots, entries: [.init(kind: .directory, path: "dir", mode: 0o755), .init(kind: .file, path: path, mode: 0o644, bytes: [0])])
        #expect(throws: WireError.self) { try FileBundle.decode(bundle.encoded()) }
    }

    @Test func rootNamesMustBeSingleUniqueComponents() {
        for bad in [[FileBundle.Root(uri: "a", name: "x/y")], [FileBundle.Root(uri: "a", name: "..")],
                    [FileBundle.Root(uri: "a", name: "x"), FileBundle.Root(uri: "b", name: "x")]] {
            #expect(throws: WireError.self) { try FileBundle.decode(FileBundle(roots: bad, entries: []).encoded()) }
        }
    }

    /// Issue 19, finding 5: the same path twice made an extraction write a file and then
    /// fail, leaving it behind.
    @Test func aPathListedTwiceIsMalformed() {
        let twice = FileBundle(roots: [FileBundle.Root(uri: "file:///x/a.txt", name: "a.txt")],
                               entries: [.init(kind: .file, path: "a.txt", mode: 0o644, bytes: [1]), .init(kind: .file, path: "a.txt", mode: 0o644, bytes: [2])])
        #expect(throws: WireError.self) { try FileBundle.decode(twice.encoded()) }
    }

    @Test func aFileLongerThanTheBundleIsTruncation() {
        var bytes = FileBundle(roots: roots, entries: [.init(kind: .directory, path: "dir", mode: 0o755), .init(kind: .file, path: "dir/a", mode: 0o644, bytes: [1, 2, 3])]).encoded()
        bytes.removeLast()
        #expect(throws: WireError.self) { try FileBundle.decode(bytes) }
    }

    @Test func uriListsAndFileURIs() {
        let list = Array("# comment\r\nfile:///tmp/a%20b.txt\r\nfile://localhost/etc/x\nhttps://example.org/\r\n\r\n".utf8)
        #expect(URIList.uris(list) == ["file:///tmp/a%20b.txt", "file://localhost/etc/x", "https://example.org/"])
        #expect(URIList.localPath("file:///tmp/a%20b.txt") == "/tmp/a b.txt")
        #expect(URIList.localPath("file://localhost/etc/x") == "/etc/x")
        #expect(URIList.localPath("file://otherhost/etc/x") == nil)
        #expect(URIList.localPath("https://example.org/") == nil)
        #expect(URIList.fileURI("/tmp/a b/ü.txt") == "file:///tmp/a%20b/%C3%BC.txt")
        #expect(URIList.localPath(URIList.fileURI("/tmp/a b/ü.txt")) == "/tmp/a b/ü.txt")
    }
}
