import ArgumentParser
import CClipSystem
import ClipDaemon
import Dispatch
import Logging
import NIOCore
import NIOPosix

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the clipboard daemon.",
        discussion: """
            Examples:
              clipd run                                 # memory clipboard, dials paired peers
              clipd run --listen 0.0.0.0:7439           # also accept peers on port 7439
              clipd run --home /tmp/a --listen 127.0.0.1:7001 --max-size 16MiB
              clipd run --virtio unix:/run/vm/clipd.sock     # a guest running clipd
              clipd run --vdagent unix:/run/vm/vdagent.sock  # a guest's SPICE agent

            Options given here override the config file (clipd.toml in the state directory, \
            or --config FILE); every option has a key there. A commented default file is \
            written there on first run. SIGHUP (or `clipd config reload`) re-reads the file \
            and peers.toml without dropping a session.
            """)

    @OptionGroup var home: HomeOption

    @Option(help: "Clipboard backend: auto (Wayland when WAYLAND_DISPLAY is set, else X11 when DISPLAY is set, else memory), wayland, x11 or memory.",
            completion: .list(["auto", "wayland", "x11", "memory"]))
    var backend: String?

    @Option(help: "Selections to sync: clipboard or clipboard,primary.", completion: .list(["clipboard", "clipboard,primary"]))
    var selections: String?

    @Option(help: "Accept peers on HOST:PORT (repeatable). Without it the daemon only dials out.")
    var listen: [String] = []

    @Option(help: ArgumentHelp("VM channel (repeatable): unix:PATH connects to QEMU's chardev server socket, unix-listen:PATH waits for QEMU, a device path is a guest's port. In a guest, /dev/virtio-ports/org.clipd.0 is used when present; 'none' turns that off.", valueName: "CHANNEL"))
    var virtio: [String] = []

    @Option(help: ArgumentHelp("A guest's SPICE agent port, com.redhat.spice.0 (repeatable), for guests with no clipd (Windows with the virtio-win tools, Linux with spice-vdagent): unix:PATH connects to QEMU's chardev server socket, unix-listen:PATH waits for QEMU, a device path is the host's end of the port.", valueName: "CHANNEL"))
    var vdagent: [String] = []

    @Option(name: .customLong("max-size"), help: "Largest item to send or accept, e.g. 64MiB (default).")
    var maxSize: String?

    @Option(name: .customLong("lazy-above"), help: "Items from peers larger than this are fetched only when pasted (default 256KiB; 0: always).")
    var lazyAbove: String?

    @Option(name: .customLong("chunk-cache"), help: "Memory for chunks kept beyond held items, for deltas and relaying (default 32MiB).")
    var chunkCache: String?

    @Option(help: "Config file (TOML). Default: clipd.toml in the state directory, if present.", completion: .file(extensions: ["toml"]))
    var config: String?

    @Option(help: "Name shown to peers (default: the host name).")
    var name: String?

    @Option(name: .customLong("log-level"), help: "Least severe messages logged: trace, debug, info (default), notice, warning or error.",
            completion: .list(["trace", "debug", "info", "notice", "warning", "error"]))
    var logLevel: String?

    @Flag(name: .shortAndLong, help: "Log every session event (--log-level debug).")
    var verbose = false

    /// The command line's settings, which win over the config file at start and at reloads;
    /// `DaemonConfiguration.keys` reads each option as it reads the key.
    func overrides() throws -> RunOverrides {
        try RunOverrides(options: [
            "backend": backend.map { [$0] } ?? [], "selections": selections.map { [$0] } ?? [], "listen": listen,
            "virtio": virtio, "vdagent": vdagent, "max-size": maxSize.map { [$0] } ?? [], "lazy-above": lazyAbove.map { [$0] } ?? [],
            "chunk-cache": chunkCache.map { [$0] } ?? [], "name": name.map { [$0] } ?? [],
            "log-level": verbose ? ["debug"] : logLevel.map { [$0] } ?? [],
        ])
    }

    func run() throws {
        let paths = home.paths
        let source: ConfigurationSource
        let configuration: DaemonConfiguration
        do {
            source = ConfigurationSource(path: config ?? paths.configFile, required: config != nil, overrides: try overrides())
            configuration = try source.load()
        } catch let error as DaemonError {
            throw fail(error.description, code: 2)
        }
        DaemonLogging.bootstrap(level: configuration.logLevel)
        let logger = Logger(label: "clipd")
        ProcessHardening.raiseDescriptorLimit()
        // Swift Concurrency's default pool on Linux is libdispatch's, whose pool monitor
        // wakes the process every second for ever. Running concurrency on NIO's threads
        // instead keeps an idle daemon asleep (no timer, no wake-up). Must happen before the
        // first task, on the main thread: hence a synchronous command.
        let onNIO = ConcurrencyOnNIO.install()
        if !onNIO { logger.notice("Swift Concurrency runs on libdispatch: expect a wake-up per second at rest") }
        let outcome = blockUntilDone { try await DaemonService.runUntilSignalled(source: source, configuration: configuration, paths: paths, logger: logger) }
        switch outcome {
        case .success: return
        case .failure(let error as DaemonError): throw fail(error.description)
        case .failure(let error): throw fail("\(error)")
        }
    }
}

/// Runs `body` as a task and blocks the calling (main) thread until it finishes.
private func blockUntilDone(_ body: @escaping @Sendable () async throws -> Void) -> Result<Void, Error> {
    // Sound as `@unchecked Sendable`: written once by the task before it signals, read once
    // after the wait.
    final class Box: @unchecked Sendable {
        var result: Result<Void, Error> = .success(())
    }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { try await body() } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return box.result
}

/// Runs Swift Concurrency's global executor on NIO's singleton event loops, the way
/// `NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`
/// does, but reaching the runtime's hook at link time: that NIO function looks the hook up
/// with `dlsym`, which finds nothing in a binary with the Swift runtime linked statically.
enum ConcurrencyOnNIO {
    typealias Hook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    /// Installs the hook. Call once, on the main thread, before the first task.
    static func install() -> Bool {
        withUnsafeTemporaryAllocation(of: Hook.self, capacity: 1) { slot in
            slot.baseAddress!.initialize(to: { job, _ in
                MultiThreadedEventLoopGroup.singleton.any().executor.enqueue(ExecutorJob(job))
            })
            return slot.baseAddress!.withMemoryRebound(to: UnsafeRawPointer.self, capacity: 1) {
                clipd_install_enqueue_global_hook($0.pointee) == 1
            }
        }
    }
}
