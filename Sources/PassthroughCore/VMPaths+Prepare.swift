import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension VMPaths {
    /// Makes the VM's private runtime and state directories (0700), removes stale sockets,
    /// and makes the per-VM copy of the firmware variables on first run (a later run keeps
    /// the settings the guest saved). Returns one line per thing it did worth telling.
    public func prepare(for config: VMConfig) throws -> [String] {
        for directory in [runtime, state] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try Self.checkPrivate(directory)
        }
        // The per-user base (`/tmp/passvm-UID` without XDG_RUNTIME_DIR) holds every VM's
        // sockets: it must be ours too, or another user who made it first could swap them.
        let base = (runtime as NSString).deletingLastPathComponent
        if base == Self.sharedRuntimeBase { try Self.checkPrivate(base) }
        for path in [qmpSocket, clipdSocket, vdagentSocket, agentHolderSocket, spiceSocket] { unlink(path) }
        guard let template = config.firmwareVars, !FileManager.default.fileExists(atPath: firmwareVars) else { return [] }
        try FileManager.default.copyItem(atPath: template, toPath: firmwareVars)
        return ["\(config.name): copied \(template) to \(firmwareVars) (this VM's own firmware settings)"]
    }

    /// The runtime base without XDG_RUNTIME_DIR: in /tmp, shared with every user.
    public static var sharedRuntimeBase: String { "/tmp/passvm-\(getuid())" }

    /// Refuses a directory that is a symbolic link, belongs to another user, or that group
    /// or others may enter; one line says which and how to fix it.
    static func checkPrivate(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw PassvmError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        if (info.st_mode & S_IFMT) == S_IFLNK { throw PassvmError("refusing to use \(path): it is a symbolic link; remove it") }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw PassvmError("\(path) exists and is not a directory") }
        guard info.st_uid == geteuid() else {
            throw PassvmError("refusing to use \(path): it belongs to uid \(info.st_uid), not to you (uid \(geteuid())); remove it or set XDG_RUNTIME_DIR")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw PassvmError("refusing to use \(path): mode \(String(info.st_mode & 0o777, radix: 8)) lets other users in; run `chmod 700 \(path)`")
        }
    }
}
