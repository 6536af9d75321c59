import ClipControl

#if canImport(Glibc)
import Glibc
#endif

/// Unix stream sockets for the holder: non-blocking, close-on-exec. Each function returns a
/// descriptor or a one-line reason.
enum UnixStream {
    /// Connects to `path`.
    static func connect(_ path: String) -> Result<Int32, HolderError> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(HolderError("socket: \(errnoText())")) }
        guard UnixSocketPath.connect(fd, to: path) else {
            let reason = errnoText()
            close(fd)
            return .failure(HolderError(reason))
        }
        setNonBlocking(fd)
        return .success(fd)
    }

    /// Listens on `path`, replacing a stale socket there; the socket is the owner's alone
    /// (mode 0600).
    static func listen(_ path: String) -> Result<Int32, HolderError> {
        var status = stat()
        if lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(HolderError("socket: \(errnoText())")) }
        let previous = umask(0o177)
        let bound = UnixSocketPath.bind(fd, to: path)
        umask(previous)
        guard bound, Glibc.listen(fd, 4) == 0 else {
            let reason = errnoText()
            close(fd)
            return .failure(HolderError("cannot listen on \(path): \(reason)"))
        }
        setNonBlocking(fd)
        return .success(fd)
    }

    /// The next waiting connection, if any.
    static func accept(_ listener: Int32) -> Int32? {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return nil }
        setNonBlocking(fd)
        return fd
    }

    /// Non-blocking and close-on-exec.
    static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }
}

/// A problem the holder reports in one line.
public struct HolderError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
