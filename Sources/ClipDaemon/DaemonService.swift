import CClipSystem
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Runs a daemon: its pieces (`Daemon.pieces`) as services of one swift-service-lifecycle
/// `ServiceGroup`, started in order and stopped in reverse on graceful shutdown (SIGTERM or
/// SIGINT, handled by the group); once all have started, this service opens the control
/// socket for requests and reloads the configuration on SIGHUP until the group shuts down.
public struct DaemonService: Service {
    let daemon: Daemon
    /// SIGHUP, trapped before any piece starts (its default action would end the process).
    let hangups: UnixSignalsSequence

    public func run() async throws {
        await daemon.allStarted()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [daemon, hangups] in
                guard let source = daemon.configurationSource else { return }
                for await _ in hangups {
                    _ = try? await daemon.reload(from: source)  // a failed reload is logged and changes nothing
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Builds and runs a daemon until SIGTERM or SIGINT. Throws `DaemonError` for problems
    /// a person must fix (bad state files, ports in use).
    public static func runUntilSignalled(source: ConfigurationSource, configuration: DaemonConfiguration, paths: DaemonPaths,
                                         logger: Logger) async throws {
        // Records are 256 KiB: keep such blocks in the heap for reuse (items of 64 MiB and
        // more are still mapped on their own).
        clipd_tune_allocator(64 << 20, 64 << 20)
        // A peer, an X server or a clipboard reader that goes away must not kill the daemon
        // with SIGPIPE (Xlib writes without MSG_NOSIGNAL); the write fails instead.
        signal(SIGPIPE, SIG_IGN)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Connections and pieces hold the daemon unowned: it must outlive every channel, so
        // it is released only after the group has closed the ones still open when it stopped.
        var daemon: Daemon?
        defer { withExtendedLifetime(daemon) {} }
        do {
            let made = try Daemon(configuration: configuration, paths: paths, group: group, logger: logger)
            made.configurationSource = source
            daemon = made
            let services = ServiceGroup(configuration: .init(services: [ServiceGroupConfiguration.ServiceConfiguration](), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            await PieceService.add(made.pieces, then: DaemonService(daemon: made, hangups: hangups), to: services)
            try await services.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
    }
}
