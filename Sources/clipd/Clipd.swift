import ArgumentParser
import ClipDaemon

@main
struct Clipd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipd",
        abstract: "Encrypted clipboard sync between machines and virtual machines.",
        discussion: """
            Run one daemon per machine (`clipd run`), pair two daemons once with a one-time \
            code (`clipd pair`), then copy on one and paste on the other. Scripts use \
            `clipd send` and `clipd recv` like wl-copy and wl-paste.
            """,
        version: ClipdVersion.current,
        subcommands: [Run.self, Pair.self, Send.self, Recv.self, Status.self, Peers.self, Unpair.self, Pause.self, Resume.self,
                      Config.self, Doctor.self])

    /// Every command handles keys, codes or clipboard contents: the process is made
    /// undumpable before anything else.
    static func main() {
        ProcessHardening.forbidDumps()
        main(nil)
    }
}

/// The `--home` option every subcommand shares.
struct HomeOption: ParsableArguments {
    @Option(name: .long, help: "Keep config, keys, peers and the control socket in DIR (or set CLIPD_HOME).", completion: .directory)
    var home: String?

    var paths: DaemonPaths { DaemonPaths(home: home, environment: ProcessInfoEnvironment.current) }
}

/// Prints `clipd: message` on standard error and exits with `code`.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandleOutput.standardError("clipd: \(message)\n")
    return ExitCode(code)
}
