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
        }
        for path in [qmpSocket, clipdSocket, vdagentSocket] { unlink(path) }
        guard let template = config.firmwareVars, !FileManager.default.fileExists(atPath: firmwareVars) else { return [] }
        try FileManager.default.copyItem(atPath: template, toPath: firmwareVars)
        return ["\(config.name): copied \(template) to \(firmwareVars) (this VM's own firmware settings)"]
    }
}
