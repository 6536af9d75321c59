import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Plain unix stream sockets for test helpers (QEMU's chardevs, agents, stand-ins).
public enum UnixSocket {
    /// A socket connected to `path`, or nil; the caller closes it.
    public static func connect(_ path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        let ok = withAddress(path) { Glibc.connect(fd, $0, $1) == 0 }
        if !ok { close(fd) }
        return ok ? fd : nil
    }

    /// A socket listening on `path` (a stale socket file there is replaced).
    public static func listen(_ path: String, backlog: Int32 = 4) throws -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, withAddress(path, { bind(fd, $0, $1) == 0 }), Glibc.listen(fd, backlog) == 0 else {
            if fd >= 0 { close(fd) }
            throw HarnessError("cannot listen on \(path): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    private static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
