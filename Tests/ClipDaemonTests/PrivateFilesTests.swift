import ClipDaemon
import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Private state files")
struct PrivateFilesTests {
    let directory: String

    init() throws {
        var template = Array("/tmp/clipd-files-XXXXXX".utf8CString)
        _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func atomicWriteReplacesTheWholeFileWithMode0600AndLeavesNothingBehind() throws {
        let path = directory + "/peers.toml"
        try PrivateFiles.writeAtomically(path, contents: Array("first version, longer than the second\n".utf8))
        try PrivateFiles.writeAtomically(path, contents: Array("second\n".utf8))
        #expect(try PrivateFiles.read(path) == Array("second\n".utf8))
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["peers.toml"], "no temporary file left")
    }

    @Test func readingRefusesFilesOthersCanRead() throws {
        let path = directory + "/identity.toml"
        try PrivateFiles.writeAtomically(path, contents: [1, 2, 3])
        chmod(path, 0o640)
        #expect(throws: DaemonError("refusing to use \(path): mode 640 lets other users in; run `chmod 600 \(path)`")) {
            try PrivateFiles.read(path)
        }
        #expect(try PrivateFiles.read(directory + "/missing") == nil)
    }

    @Test func directoriesAreCreated0700AndOpenOnesRefused() throws {
        let nested = directory + "/a/b/state"
        try PrivateFiles.ensureDirectory(nested)
        var info = stat()
        #expect(stat(nested, &info) == 0 && info.st_mode & 0o777 == 0o700)
        chmod(nested, 0o755)
        #expect(throws: DaemonError.self) { try PrivateFiles.ensureDirectory(nested) }
    }

    @Test func sizesParseAsPeopleWriteThem() throws {
        #expect(try SizeParser.parse("64MiB") == 64 << 20)
        #expect(try SizeParser.parse("512K") == 512 << 10)
        #expect(try SizeParser.parse("1 G") == 1 << 30)
        #expect(try SizeParser.parse("1048576") == 1 << 20)
        #expect(throws: DaemonError.self) { try SizeParser.parse("12 parsecs") }
        #expect(throws: DaemonError.self) { try SizeParser.parse("MiB") }
        #expect(throws: DaemonError.self) { try SizeParser.parse("99999999999999999G") }
    }

    @Test func addressesParseWithDefaultsAndBrackets() throws {
        #expect(try HostPort(parsing: "desk.local").description == "desk.local:7439")
        #expect(try HostPort(parsing: "tcp://10.0.0.2:7001").port == 7001)
        #expect(try HostPort(parsing: "[::1]:7002").host == "::1")
        #expect(throws: DaemonError.self) { try HostPort(parsing: "::1:7002") }
        #expect(throws: DaemonError.self) { try HostPort(parsing: "host:99999") }
    }
}

/// Review finding 5: the runtime directory's fallback lives in /tmp, where another user can
/// make `/tmp/clipd-UID` (or a symbolic link by that name) before clipd does.
extension PrivateFilesTests {
    @Test func aSymbolicLinkIsNotTakenForThePrivateDirectory() throws {
        let target = directory + "/elsewhere"
        mkdir(target, 0o700)
        let link = directory + "/clipd-link"
        symlink(target, link)
        #expect(throws: DaemonError.self) { try PrivateFiles.ensureDirectory(link) }
        do { try PrivateFiles.ensureDirectory(link) } catch { #expect("\(error)".contains("symbolic link"), "\(error)") }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to make a directory owned by someone else"))
    func aDirectoryAnotherUserMadeFirstIsRefused() throws {
        let squatted = directory + "/clipd-0"
        mkdir(squatted, 0o700)
        chown(squatted, 65534, 65534)
        do {
            try PrivateFiles.ensureDirectory(squatted)
            Issue.record("a directory of uid 65534 was accepted")
        } catch {
            #expect("\(error)".contains("belongs to uid 65534"), "\(error)")
        }
        let ours = directory + "/fresh"
        try PrivateFiles.ensureDirectory(ours)
        var info = stat()
        #expect(lstat(ours, &info) == 0 && info.st_uid == geteuid() && info.st_mode & 0o777 == 0o700)
    }
}
