import ClipControl
import Foundation
import PassthroughCore

#if canImport(Glibc)
import Glibc
#endif

/// A QEMU Machine Protocol connection: JSON objects, one per line, over a unix socket.
/// Events and replies are handed to `onMessage` from a reader thread; `execute` may be
/// called from any thread.
///
/// Sound as `@unchecked Sendable`: the socket descriptor is fixed at init; reads and the
/// reader state (`reader`, `early`) belong to init, then to the reader thread alone; writes
/// happen under `writeLock`.
final class QMPConnection: @unchecked Sendable {
    private let fd: Int32
    private let writeLock = NSLock()

    /// Connects, waiting up to `timeout` seconds for QEMU to create the socket, and
    /// negotiates capabilities.
    init(path: String, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var connected: Int32 = -1
        while connected < 0 && Date() < deadline {
            connected = Self.connect(path)
            if connected < 0 { usleep(50_000) }
        }
        guard connected >= 0 else { throw PassvmRunError("QEMU's QMP socket \(path) did not appear") }
        fd = connected
        try readGreeting()
        execute("qmp_capabilities")
    }

    deinit { close(fd) }

    func execute(_ command: String, arguments: [String: Any]? = nil) {
        var object: [String: Any] = ["execute": command]
        if let arguments { object["arguments"] = arguments }
        guard var data = try? JSONSerialization.data(withJSONObject: object) else { return }
        data.append(0x0a)
        writeLock.lock()
        defer { writeLock.unlock() }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Reads messages until QEMU closes the socket.
    func readMessages(_ onMessage: ([String: Any]) -> Void) {
        while let objects = try? readObjects() {
            for object in objects { onMessage(object) }
        }
    }

    private var reader = QMPReader()
    /// Objects read with the greeting and not yet handed out.
    private var early: [[String: Any]] = []

    /// The next objects QEMU sent; throws when it closed the socket.
    private func readObjects() throws -> [[String: Any]] {
        if !early.isEmpty {
            defer { early = [] }
            return early
        }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw PassvmRunError("QMP closed") }
            let objects = reader.feed(chunk[0..<count])
            if !objects.isEmpty { return objects }
        }
    }

    /// Waits for QEMU's greeting (its first object); what came with it is kept for later.
    private func readGreeting() throws {
        var objects = try readObjects()
        objects.removeFirst()
        early = objects
    }

    private static func connect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        let ok = UnixSocketPath.connect(fd, to: path)
        if !ok { close(fd) }
        return ok ? fd : -1
    }
}

struct PassvmRunError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
