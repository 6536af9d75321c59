import ClipWire
import Foundation

/// Small helpers for writing to the standard streams without buffering surprises. Text
/// (lines, messages) goes through `Printable.lines` on its way out: whatever the daemon
/// relays from a peer or an application can never reach the terminal as an escape
/// sequence. Item bytes (`standardOutput`) go out as they are, as `wl-paste` prints them.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        FileHandle.standardError.write(Data(Printable.lines(text).utf8))
    }

    static func standardOutput<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        FileHandle.standardOutput.write(Data(bytes))
    }

    static func standardOutputLine(_ text: String) {
        FileHandle.standardOutput.write(Data((Printable.lines(text) + "\n").utf8))
    }
}

enum ProcessInfoEnvironment {
    static var current: [String: String] { ProcessInfo.processInfo.environment }
}

/// Reads all of standard input into one array (sized from the file when stdin is one);
/// `progress` hears the bytes read so far.
func readStandardInput(progress: (Int) -> Void = { _ in }) -> [UInt8] {
    var info = stat()
    var capacity = 1 << 16
    if fstat(0, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size > 0 { capacity = Int(info.st_size) + 1 }
    var bytes = [UInt8](repeating: 0, count: capacity)
    var count = 0
    while true {
        if count == bytes.count { bytes += [UInt8](repeating: 0, count: bytes.count) }
        let n = bytes.withUnsafeMutableBytes { read(0, $0.baseAddress! + count, $0.count - count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        count += n
        progress(count)
    }
    bytes.removeLast(bytes.count - count)
    return bytes
}
