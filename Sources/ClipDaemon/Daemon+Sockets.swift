import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's own sockets: listeners for peers and the control socket.
extension Daemon {
    /// Binds a socket accepting peers on `address` (HOST:PORT); returns its link, not yet
    /// added. Throws a one-line error when the address is taken or invalid.
    func bindListener(_ address: String) async throws -> ListenerLink {
        let (channel, bound) = try await TCPTransport.listen(on: try HostPort(parsing: address), group: group) { [self] channel in
            PeerConnection(owner: self, role: .responder, remote: channel.remoteAddress.map { "\($0)" } ?? "?")
        }
        return ListenerLink(key: .listener(address), channel: channel, bound: bound)
    }

    /// Where peers reach this daemon, for people ("127.0.0.1:7439").
    var listenersDescription: [String] { links.peerListeners.map(\.bound) }

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
