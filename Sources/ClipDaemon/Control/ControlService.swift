import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The control socket, as the daemon's first piece, and what its clients hold open: the
/// `send --wait` clients (`waits`) and the watchers (`watchers`). Its start binds the
/// socket, or says in one line that another daemon answers on it; until `openForRequests()` (once
/// every piece has started) requests are held, so an answer from the control socket
/// means the desktop is watched and the listeners are bound. Requests are answered by a
/// `ControlRequestHandler`.
///
/// Sound as `@unchecked Sendable`: everything but `start` and `stop` runs on the daemon's
/// event loop, and those two touch the channel only through `loop.submit`.
final class ControlService: DaemonPiece, @unchecked Sendable {
    let pieceName = "control socket"
    private let loop: EventLoop
    private let group: EventLoopGroup
    private let paths: DaemonPaths
    private unowned let handler: ControlRequestHandler
    private var channel: Channel?
    /// Whether every piece has started (requests are answered at once).
    private(set) var isOpen = false
    /// Requests that came before `open()`, in order.
    private var held: [() -> Void] = []
    /// `clipd send --wait` clients.
    let waits: SendWaits
    /// `clipd recv --watch` clients.
    let watchers: Watchers

    init(paths: DaemonPaths, group: EventLoopGroup, loop: EventLoop, handler: ControlRequestHandler, watchHost: WatchHost) {
        self.paths = paths
        self.group = group
        self.loop = loop
        self.handler = handler
        waits = SendWaits(loop: loop)
        watchers = Watchers(loop: loop, host: watchHost)
    }

    /// Binds the control socket (mode 0600) in the runtime directory, which it makes if it
    /// is missing. A socket file another daemon answers on is an error; a stale one is
    /// replaced.
    func start() async throws {
        try PrivateFiles.ensureDirectory(paths.runtimeDirectory)
        let path = paths.controlSocket
        if FileManager.default.fileExists(atPath: path) {
            if ControlClient.isDaemonListening(at: path) {
                throw DaemonError("a clipd daemon is already running (control socket \(path)); stop it or use another --home")
            }
            unlink(path)
        }
        let bound: Channel
        do {
            bound = try await UnixSocketTransport.listen(at: path, group: group) { [handler] _ in ControlConnection(daemon: handler) }
        } catch {
            throw DaemonError("cannot create control socket \(path): \(error)")
        }
        chmod(path, 0o600)
        try await loop.submit { [self] in channel = bound }.get()
    }

    /// Closes the socket and removes its file. Accepted clients stay connected until the
    /// daemon's event loop group shuts down.
    func stop() async {
        let bound = try? await loop.submit { [self] in channel }.get()
        try? await bound?.close()
        unlink(paths.controlSocket)
    }

    /// Runs `request` now if every piece has started, else once they have. Call on the loop.
    func whenOpen(_ request: @escaping () -> Void) {
        loop.preconditionInEventLoop()
        if isOpen { request() } else { held.append(request) }
    }

    /// Every piece has started: the held requests are answered, in order. Call on the loop.
    func openForRequests() {
        loop.preconditionInEventLoop()
        isOpen = true
        for request in held { request() }
        held = []
    }

    /// What `clipd status` says of the control side: the watchers, if any.
    var statusLines: [String] { watchers.count > 0 ? ["watches: \(watchers.count) (`clipd recv --watch`)"] : [] }

    /// The client went away: its waits and its watch end.
    func clientClosed(_ client: ControlConnection) {
        watchers.remove(client)
        waits.clientClosed(client)
    }
}
