import ArgumentParser
import ClipDaemon

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check, show or reload the configuration.",
        subcommands: [Check.self, Default.self, Reload.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read the config file and peers.toml as `clipd run` would, and print the settings in effect.",
            discussion: "Exits 0 when both files are valid (or absent), 1 with a one-line error otherwise.")

        @OptionGroup var home: HomeOption

        @Option(help: "Config file to check (default: clipd.toml in the state directory).")
        var config: String?

        func run() throws {
            let paths = home.paths
            let source = ConfigurationSource(path: config ?? paths.configFile, required: config != nil)
            do {
                for line in try ConfigurationCheck.run(source: source, paths: paths) { FileHandleOutput.standardOutputLine(line) }
            } catch let error as DaemonError {
                throw fail(error.description)
            }
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "default",
            abstract: "Print the commented default config file (what `clipd run` writes on first run).")

        func run() throws { FileHandleOutput.standardOutput(Array(ConfigurationTemplate.text.utf8)) }
    }

    struct Reload: OneRequestCommand {
        static let operation = ControlRequest.Operation.reload
        static let configuration = CommandConfiguration(
            abstract: "Make the running daemon re-read its config file and peers.toml (as SIGHUP does).",
            discussion: """
                Sessions stay open. Prints what changed and what waits for a restart \
                (\(DaemonConfiguration.restartKeys.joined(separator: ", "))). An invalid file \
                changes nothing: the daemon keeps its settings and this exits 1 with the error.
                """)

        @OptionGroup var home: HomeOption
    }
}

struct Pause: OneRequestCommand {
    static let operation = ControlRequest.Operation.pause
    static let configuration = CommandConfiguration(
        abstract: "Stop syncing until `clipd resume`: copies here stay here, nothing from peers is applied.",
        discussion: "Sessions stay connected. A daemon restarted while paused stays paused.")

    @OptionGroup var home: HomeOption
}

struct Resume: OneRequestCommand {
    static let operation = ControlRequest.Operation.resume
    static let configuration = CommandConfiguration(abstract: "Sync again after `clipd pause`.")

    @OptionGroup var home: HomeOption
}
