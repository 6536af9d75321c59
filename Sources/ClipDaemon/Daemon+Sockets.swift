import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's own socket: the control socket.
extension Daemon {

    func bindControlSocket() async throws {
        let path = paths.controlSocket
        if FileManager.default.fileExists(atPath: path) {
            if ControlClient.isDaemonListening(at: path) {
                throw DaemonError("a clipd daemon is already running (control socket \(path)); stop it or use another --home")
            }
            unlink(path)
        }
        do {
            controlChannel = try await UnixSocketTransport.listen(at: path, group: group) { [self] _ in ControlConnection(daemon: self) }
        } catch {
            throw DaemonError("cannot create control socket \(path): \(error)")
        }
        chmod(path, 0o600)
    }
}
