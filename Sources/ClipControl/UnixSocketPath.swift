#if canImport(Glibc)
import Glibc
#endif

/// Connecting and binding unix stream sockets by path, for every module of the package that
/// talks over one (the control client, the agent port holder, passvm's QMP client). Paths
/// must fit `sun_path` (107 bytes); a longer one fails with ENAMETOOLONG. Stateless.
package enum UnixSocketPath {
    /// Connects `fd` to `path`: true, or false with errno set.
    package static func connect(_ fd: Int32, to path: String) -> Bool {
        withAddress(path) { Glibc.connect(fd, $0, $1) == 0 }
    }

    /// Binds `fd` to `path`: true, or false with errno set.
    package static func bind(_ fd: Int32, to path: String) -> Bool {
        withAddress(path) { Glibc.bind(fd, $0, $1) == 0 }
    }

    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Bool) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            errno = ENAMETOOLONG
            return false
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
