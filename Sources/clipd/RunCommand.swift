import ArgumentParser
import ClipDaemon
import Logging

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the clipboard daemon.",
        discussion: """
            Examples:
              clipd run                                 # memory clipboard, dials paired peers
              clipd run --listen 0.0.0.0:7439           # also accept peers on port 7439
              clipd run --home /tmp/a --listen 127.0.0.1:7001 --max-size 16MiB

            Options given here override the config file (clipd.toml in the state directory, \
            or --config FILE).
            """)

    @OptionGroup var home: HomeOption

    @Option(help: "Clipboard backend: auto, memory (x11 and wayland arrive with their own releases).")
    var backend: String?

    @Option(help: "Selections to sync: clipboard or clipboard,primary.")
    var selections: String?

    @Option(help: "Accept peers on HOST:PORT (repeatable). Without it the daemon only dials out.")
    var listen: [String] = []

    @Option(name: .customLong("max-size"), help: "Largest item to send or accept, e.g. 64MiB (default).")
    var maxSize: String?

    @Option(help: "Config file (TOML). Default: clipd.toml in the state directory, if present.")
    var config: String?

    @Option(help: "Name shown to peers (default: the host name).")
    var name: String?

    @Flag(name: .shortAndLong, help: "Log every session event.")
    var verbose = false

    func run() async throws {
        let paths = home.paths
        var configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.load(path: config ?? paths.configFile, required: config != nil)
            if let backend {
                guard let b = DaemonConfiguration.Backend(rawValue: backend) else {
                    throw DaemonError("unknown backend '\(backend)': use auto or memory")
                }
                configuration.backend = b
            }
            if let selections { configuration.selections = try DaemonConfiguration.parseSelections(selections) }
            if !listen.isEmpty { configuration.listen = listen }
            if let maxSize { configuration.maximumItemSize = try SizeParser.parse(maxSize) }
            if let name { configuration.name = name }
            switch configuration.backend {
            case .auto, .memory: break
            case .x11, .wayland:
                throw DaemonError("the \(configuration.backend.rawValue) backend is not part of this build yet; use --backend memory")
            }
            for address in configuration.listen { _ = try HostPort(parsing: address) }
        } catch let error as DaemonError {
            throw fail(error.description, code: 2)
        }
        let level: Logger.Level = verbose ? .debug : .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "clipd")
        do {
            try await DaemonService.runUntilSignalled(configuration: configuration, paths: paths, logger: logger)
        } catch let error as DaemonError {
            throw fail(error.description)
        }
    }
}
