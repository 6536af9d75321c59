import CClipSystem

#if canImport(Glibc)
import Glibc
#endif

/// What a process holding keys does first.
public enum ProcessHardening {
    /// Makes this process undumpable: no core file can hold its keys or clipboard, and other
    /// processes of the same user cannot ptrace it or read its memory through /proc.
    /// Safe from any thread; call once, first thing in `main`.
    public static func forbidDumps() {
        _ = clipd_forbid_dumps()
    }

    /// Raises the soft limit on open descriptors to the hard one: the usual soft 1,024 is
    /// reached by a few hundred idle connections from anyone on the network, and a daemon
    /// at its limit cannot accept its own peers. Returns the limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return UInt64(limit.rlim_cur)
    }
}
