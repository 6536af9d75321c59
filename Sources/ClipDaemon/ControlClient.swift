#if canImport(Glibc)
import Glibc
#endif

/// A blocking client of the daemon's control socket, for the CLI. Not thread-safe; one
/// request per instance.
public final class ControlClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects, or throws a one-line error saying no daemon runs and how to start one.
    public init(socketPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("cannot create a socket: \(errnoText())") }
        guard Self.connect(fd, path: socketPath) else {
            close(fd)
            throw DaemonError("no clipd daemon is running (no control socket at \(socketPath)); start one with `clipd run`")
        }
    }

    deinit { close(fd) }

    /// True when something accepts connections on `path`.
    public static func isDaemonListening(at path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return connect(fd, path: path)
    }

    private static func connect(_ fd: Int32, path: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }

    /// Sends one request with its payload.
    public func send(_ request: ControlRequest, payload: [UInt8] = []) throws {
        do {
            // Prefix and header first, then the payload from where it lies (no copy of large items).
            try write(ControlFraming.encode(request, payloadLength: payload.count))
            try write(payload)
        } catch {
            // The daemon refuses some requests (an item over its maximum size) without
            // reading them: its answer says why.
            if let (response, _) = try? receive(), !response.ok, let reason = response.error { throw DaemonError(reason) }
            throw error
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError("the daemon closed the connection: \(errnoText())")
            }
            sent += n
        }
    }

    /// Reads the next response and its payload; throws when the daemon goes away.
    public func receive() throws -> (ControlResponse, [UInt8]) {
        try fill(ControlFraming.prefixByteCount)
        let headerLength = buffer[0..<4].reduce(0) { $0 << 8 | Int($1) }
        let payloadLength = buffer[4..<12].reduce(0) { $0 << 8 | Int($1) }
        guard headerLength <= ControlFraming.maximumHeaderLength else { throw DaemonError("malformed response from the daemon") }
        try fill(ControlFraming.prefixByteCount + headerLength + payloadLength)
        let header = Array(buffer[12..<12 + headerLength])
        let payload = Array(buffer[(12 + headerLength)..<(12 + headerLength + payloadLength)])
        buffer.removeFirst(12 + headerLength + payloadLength)
        return (try ControlFraming.decodeHeader(ControlResponse.self, from: header), payload)
    }

    private func fill(_ count: Int) throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while buffer.count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError("lost the connection to the daemon: \(errnoText())")
            }
            if n == 0 { throw DaemonError("the daemon closed the connection") }
            buffer += chunk[0..<n]
        }
    }
}
