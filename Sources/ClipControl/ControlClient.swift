import CClipSystem

#if canImport(Glibc)
import Glibc
#endif

/// A blocking client of the daemon's control socket, for the CLI. Not thread-safe; one
/// request per instance.
public final class ControlClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 1 << 20)

    /// Connects, or throws a one-line error saying no daemon runs and how to start one.
    /// Refuses a socket served by another user's process (SO_PEERCRED): requests carry
    /// clipboard contents and pairing codes, which must only go to our own daemon.
    public init(socketPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DaemonError("cannot create a socket: \(errnoText())") }
        guard Self.connect(fd, path: socketPath) else {
            close(fd)
            throw DaemonError("no clipd daemon is running (no control socket at \(socketPath)); start one with `clipd run`")
        }
        var server: UInt32 = 0
        guard clipd_peer_uid(fd, &server) == 0 else {
            close(fd)
            throw DaemonError("cannot tell who serves \(socketPath): \(errnoText())")
        }
        guard server == geteuid() else {
            close(fd)
            throw DaemonError("refusing to talk to \(socketPath): it is served by uid \(server), not by you (uid \(geteuid()))")
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
        UnixSocketPath.connect(fd, to: path)
    }

    /// Sends one request with its payload; `progress` hears the payload bytes written so far.
    public func send(_ request: ControlRequest, payload: [UInt8] = [], progress: ((Int) -> Void)? = nil) throws {
        do {
            // Prefix and header first, then the payload from where it lies (no copy of large items).
            try write(ControlFraming.encode(request, payloadLength: payload.count))
            try write(payload, progress: progress)
        } catch {
            // The daemon refuses some requests (an item over its maximum size) without
            // reading them: its answer says why.
            if let (response, _) = try? receive(), !response.ok, let reason = response.error { throw DaemonError(reason) }
            throw error
        }
    }

    private func write(_ bytes: [UInt8], progress: ((Int) -> Void)? = nil) throws {
        var sent = 0
        while sent < bytes.count {
            // Pieces of 1 MiB, so that progress moves.
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, min(bytes.count - sent, 1 << 20), Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError("the daemon closed the connection: \(errnoText())")
            }
            sent += n
            progress?(sent)
        }
    }

    /// Reads the next response and its whole payload (a streamed one gathered); throws when
    /// the daemon goes away. For a streamed payload the response is its trailer, with the
    /// head's MIME type.
    public func receive() throws -> (ControlResponse, [UInt8]) {
        var payload: [UInt8] = []
        let response = try receive(head: { _ in }, piece: { payload.append(contentsOf: $0) })
        return (response, payload)
    }

    /// Reads the next response, handing its payload over piece by piece as it arrives.
    /// `head` hears a streamed payload's head (type and size) before its first piece; the
    /// response returned is then the trailer (ok, or the error that cut the payload short),
    /// carrying the head's MIME type, state and origin.
    public func receive(head: (ControlResponse) -> Void, piece: (ArraySlice<UInt8>) -> Void) throws -> ControlResponse {
        let (first, payload) = try receiveFrame()
        guard first.streamed == true else {
            if !payload.isEmpty { piece(payload[...]) }
            return first
        }
        head(first)
        while true {
            try fill(4)
            let length = buffer[0..<4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= ControlFraming.maximumResponsePiece else { throw DaemonError("malformed response from the daemon: a piece of \(length) bytes") }
            try fill(4 + length)
            if length == 0 {
                buffer.removeFirst(4)
                break
            }
            piece(buffer[4..<4 + length])
            buffer.removeFirst(4 + length)
        }
        var (trailer, _) = try receiveFrame()
        trailer.mimeType = trailer.mimeType ?? first.mimeType
        trailer.state = trailer.state ?? first.state
        trailer.origin = trailer.origin ?? first.origin
        return trailer
    }

    private func receiveFrame() throws -> (ControlResponse, [UInt8]) {
        try fill(ControlFraming.prefixByteCount)
        let lengths: (headerLength: Int, payloadLength: UInt64)?
        do {
            lengths = try ControlFraming.prefix(buffer, maximumPayload: UInt64(ControlFraming.maximumResponsePiece))
        } catch {
            throw DaemonError("malformed response from the daemon: \(error)")
        }
        let headerLength = lengths!.headerLength, payloadLength = Int(lengths!.payloadLength)
        try fill(ControlFraming.prefixByteCount + headerLength + payloadLength)
        let header = Array(buffer[12..<12 + headerLength])
        let payload = Array(buffer[(12 + headerLength)..<(12 + headerLength + payloadLength)])
        buffer.removeFirst(12 + headerLength + payloadLength)
        return (try ControlFraming.decodeHeader(ControlResponse.self, from: header), payload)
    }

    private func fill(_ count: Int) throws {
        while buffer.count < count {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError("lost the connection to the daemon: \(errnoText())")
            }
            if n == 0 { throw DaemonError("the daemon closed the connection") }
            buffer += scratch[0..<n]
        }
    }
}
