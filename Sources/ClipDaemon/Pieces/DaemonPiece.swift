import Logging
import ServiceLifecycle

/// One part of the running daemon that owns its own state and sockets: the control
/// socket, the daemon's core (hub, pairing, sessions), the desktop, the links. The daemon
/// runs its pieces in one `ServiceGroup` (`PieceService`), started in order and stopped
/// in reverse.
///
/// Threading: `start` and `stop` are called from a task, never on the daemon's event loop;
/// a piece hops to the loop for whatever it touches there. `stop` is called once, and only
/// after `start` has returned without throwing.
protocol DaemonPiece: AnyObject, Sendable {
    /// What the piece is, for the group's log lines ("control socket", "desktop").
    var pieceName: String { get }
    /// Opens what the piece owns. Throws a one-line `DaemonError` a person can act on; the
    /// pieces started before it are then stopped and the daemon exits with that line.
    func start() async throws
    /// Closes what the piece owns. Never throws: what cannot be closed is logged.
    func stop() async
}

/// A `DaemonPiece` as a service of the daemon's `ServiceGroup`. A piece is added to the
/// group only once the piece before it has started, so the pieces start one after another
/// in the order given, and the group (which shuts its services down in the reverse of the
/// order they were added) stops them in reverse. A piece whose start throws ends the
/// group: the pieces already started are stopped, last first, and the group's `run`
/// throws that piece's error.
struct PieceService: Service, CustomStringConvertible {
    private let piece: DaemonPiece
    /// The pieces to start after this one, in order, then the service that runs once all
    /// have started.
    private let rest: ArraySlice<DaemonPiece>
    private let whenAllStarted: (any Service)?
    private let group: ServiceGroup

    /// Adds the first of `pieces` to `group` (before the group runs); each adds the next as
    /// it finishes starting, and the last adds `whenAllStarted`.
    static func add(_ pieces: [DaemonPiece], then whenAllStarted: (any Service)?, to group: ServiceGroup) async {
        guard let first = pieces.first else {
            if let whenAllStarted { await group.addServiceUnlessShutdown(configuration(whenAllStarted)) }
            return
        }
        await group.addServiceUnlessShutdown(configuration(PieceService(piece: first, rest: pieces.dropFirst(), whenAllStarted: whenAllStarted, group: group)))
    }

    /// Every piece's failure shuts the group down gracefully, so the others stop in order.
    private static func configuration(_ service: any Service) -> ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: service, successTerminationBehavior: .cancelGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
    }

    var description: String { piece.pieceName }

    func run() async throws {
        try await piece.start()
        await Self.add(Array(rest), then: whenAllStarted, to: group)
        // Returns on the group's graceful shutdown (SIGTERM, SIGINT, another piece failing)
        // or when the group is cancelled: either way the piece stops.
        try? await gracefulShutdown()
        await piece.stop()
    }
}
