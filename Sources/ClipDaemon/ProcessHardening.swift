import CClipSystem

/// What a process holding keys does first.
public enum ProcessHardening {
    /// Makes this process undumpable: no core file can hold its keys or clipboard, and other
    /// processes of the same user cannot ptrace it or read its memory through /proc.
    /// Safe from any thread; call once, first thing in `main`.
    public static func forbidDumps() {
        _ = clipd_forbid_dumps()
    }
}
