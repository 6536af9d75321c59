import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing the daemon's private state: directories 0700, files 0600, writes
/// atomic (temporary file, fsync, rename, fsync of the directory). Anything looser than that
/// on disk is refused with a message saying how to fix it. Safe from any thread.
public enum PrivateFiles {
    /// Creates `path` (and parents) with mode 0700 when missing; refuses an existing one that
    /// is a symbolic link, is not ours, or that group or others may enter. In a shared
    /// directory such as /tmp another user could have made it first, to read or replace
    /// what clipd puts there.
    public static func ensureDirectory(_ path: String) throws {
        var info = stat()
        if lstat(path, &info) != 0 {
            let parent = parentDirectory(path)
            if !parent.isEmpty && parent != path {
                var parentInfo = stat()
                if stat(parent, &parentInfo) != 0 { try ensureParent(parent) }
            }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw DaemonError("cannot create \(path): \(errnoText())") }
            guard lstat(path, &info) == 0 else { throw DaemonError("cannot stat \(path): \(errnoText())") }
        }
        try checkPrivateDirectory(path, info)
    }

    /// Whether an existing directory's `lstat` says it is ours alone.
    static func checkPrivateDirectory(_ path: String, _ info: stat) throws {
        if (info.st_mode & S_IFMT) == S_IFLNK {
            throw DaemonError("refusing to use \(path): it is a symbolic link; remove it and clipd makes a real directory there")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw DaemonError("\(path) exists and is not a directory") }
        guard info.st_uid == geteuid() else {
            throw DaemonError("refusing to use \(path): it belongs to uid \(info.st_uid), not to you (uid \(geteuid())); someone else made it first, remove it or set XDG_RUNTIME_DIR")
        }
        try checkMode(path, mode: info.st_mode, allowed: 0o700, fix: "chmod 700 \(path)")
    }

    /// Reads a private file, or returns nil when it does not exist. Refuses a file that
    /// group or others may read or write.
    public static func read(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw DaemonError("cannot read \(path): \(errnoText())")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DaemonError("cannot stat \(path): \(errnoText())") }
        try checkMode(path, mode: info.st_mode, allowed: 0o600, fix: "chmod 600 \(path)")
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw DaemonError("cannot read \(path): \(errnoText())")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }

    /// Removes the temporary files of `writeAtomically` left in `directory` by a process that
    /// died before renaming them (`NAME.tmp-PID`); returns their paths. Call only while no
    /// other process writes there (the daemon holding the control socket).
    public static func removeStaleTemporaries(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names {
            guard let range = name.range(of: ".tmp-"), !name[range.upperBound...].isEmpty, name[range.upperBound...].allSatisfy(\.isNumber) else { continue }
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, unlink(path) == 0 else { continue }
            removed.append(path)
        }
        return removed
    }

    /// Replaces `path` atomically with `contents`, mode 0600: written to `PATH.tmp-PID`,
    /// synced, renamed over `path`, directory synced. A crash at any point leaves either the
    /// old file or the new one, whole.
    public static func writeAtomically(_ path: String, contents: [UInt8]) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw DaemonError("cannot write \(temporary): \(errnoText())") }
        var written = 0
        while written < contents.count {
            let n = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, contents.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = errnoText()
                close(fd)
                unlink(temporary)
                throw DaemonError("cannot write \(temporary): \(reason)")
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let reason = errnoText()
            close(fd)
            unlink(temporary)
            throw DaemonError("cannot sync \(temporary): \(reason)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw DaemonError("cannot replace \(path): \(reason)")
        }
        let directory = open(parentDirectory(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    static func checkMode(_ path: String, mode: mode_t, allowed: mode_t, fix: String) throws {
        let permissions = mode & 0o777
        guard permissions & ~allowed == 0 else {
            throw DaemonError("refusing to use \(path): mode \(String(permissions, radix: 8)) lets other users in; run `\(fix)`")
        }
    }

    private static func ensureParent(_ path: String) throws {
        let parent = parentDirectory(path)
        var info = stat()
        if !parent.isEmpty && parent != path && stat(parent, &info) != 0 { try ensureParent(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw DaemonError("cannot create \(path): \(errnoText())") }
    }

    static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
