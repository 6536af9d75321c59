import ArgumentParser
import ClipDaemon
import Foundation

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this machine's clipd set-up and say how to fix each problem.",
        discussion: """
            Checks the desktop session (X11, Wayland and its data-control protocol, XWayland, \
            none), the config and state files, the daemon and its control socket, every paired \
            peer and its last contact, the VM channels and SPICE agent ports. One line per \
            finding: ok, note or problem, with the fix. Exits 0 when there is no problem, 1 \
            otherwise.
            """)

    @OptionGroup var home: HomeOption

    @Option(help: "Config file the daemon was started with (default: clipd.toml in the state directory).")
    var config: String?

    @Option(help: ArgumentHelp("Read /dev and /sys under DIR (for tests).", visibility: .hidden))
    var root: String = ""

    func run() throws {
        let paths = home.paths
        let checks = DoctorChecks(environment: ProcessInfo.processInfo.environment, paths: paths,
                                  source: ConfigurationSource(path: config ?? paths.configFile, required: config != nil, guestPort: nil), root: root)
        var findings = checks.session() + checks.stateFiles() + daemonFindings(paths, session: checks.sessionBackend) + checks.guestPorts()
        if findings.allSatisfy({ $0.level != .problem }) { findings.append(DoctorFinding(.ok, "no problems found")) }
        for finding in findings { FileHandleOutput.standardOutputLine(finding.line) }
        if findings.contains(where: { $0.level == .problem }) { throw ExitCode(1) }
    }

    /// The daemon's own findings, or why there is no daemon to ask.
    private func daemonFindings(_ paths: DaemonPaths, session: DaemonConfiguration.Backend) -> [DoctorFinding] {
        let socket = paths.controlSocket
        guard FileManager.default.fileExists(atPath: socket) else {
            return [DoctorFinding(.problem, "no clipd daemon runs for this user (no control socket \(socket))",
                            fix: "start it: `clipd run`, or `systemctl --user enable --now clipd` (a guest: `systemctl enable --now clipd-guest`)")]
        }
        do {
            let client = try ControlClient(socketPath: socket)
            try client.send(ControlRequest(op: .diagnose))
            let (response, _) = try client.receive()
            guard response.ok else { return [DoctorFinding(.problem, "the daemon refused: \(response.error ?? "no reason given")", fix: "update clipd: the daemon and this command differ")] }
            var findings = (response.lines ?? []).compactMap(DoctorFinding.init(encoded:))
            if let first = findings.first?.text, first.contains("backend memory"), session != .memory {
                findings.append(DoctorFinding(.problem, "the daemon keeps an in-memory clipboard, but this shell is in a \(session.rawValue) session: copies in applications are not synced",
                                        fix: "start the daemon inside the session (`systemctl --user import-environment DISPLAY WAYLAND_DISPLAY` then `systemctl --user restart clipd`)"))
            }
            return findings
        } catch {
            return [DoctorFinding(.problem, "the control socket \(socket) is there but no daemon answers (\(error))",
                            fix: "a crashed daemon left it: start clipd again (it replaces the socket)")]
        }
    }
}
