import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An Xvfb server started for one test: it picks a free display itself (`-displayfd`) and
/// is ended by PID when the value goes away.
public final class XvfbServer {
    public let display: String
    private let process: ChildProcess
    /// Owners started on this display: ended with it.
    private var owners: [ChildProcess] = []
    /// Weak: the harness keeps the server (and ends it after its daemons).
    private weak var harness: DaemonHarness?

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/Xvfb") }

    /// Starts a server that lives as long as `harness` (and ends after its daemons).
    /// With `display`, the server takes that display number instead of a free one.
    public init(harness: DaemonHarness, display fixed: String? = nil) throws {
        let directory = harness.root
        let file = directory + "/xvfb-\(UUID().uuidString).display"
        let log = directory + "/xvfb.log"
        self.harness = harness
        // exec: the PID recorded is Xvfb's own; the shell gives it descriptor 3 to write
        // its display number to.
        let which = fixed.map { "\($0) -displayfd 3" } ?? "-displayfd 3"
        process = try ChildProcess("/bin/sh", ["-c", "exec /usr/bin/Xvfb \(which) -screen 0 640x480x24 -nolisten tcp -noreset -extension GLX 3>\(file)"],
                                   stdout: .file(log), stderr: .file(log))
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), let number = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                display = ":\(number)"
                harness.retain(self)
                return
            }
            usleep(10_000)
        }
        process.stop(grace: 2)
        throw HarnessError("Xvfb did not start within 10 s; see \(log)")
    }

    /// Ends the server now (the X server "goes away"). Xvfb sometimes lingers after SIGTERM
    /// while clients hang on, so it gets SIGKILL after 2 s.
    public func kill() {
        for owner in owners { owner.stop(grace: 1) }
        process.stop(grace: 2)
    }

    deinit { kill() }

    /// Runs an X client (xclip, xsel) on this display to completion, within `timeout`
    /// seconds.
    public func run(_ tool: String, _ arguments: [String], stdin: [UInt8]? = nil, harness: DaemonHarness,
                    timeout: TimeInterval = DaemonHarness.commandTimeLimit) -> DaemonHarness.Result {
        harness.run("/usr/bin/env", ["DISPLAY=\(display)", tool] + arguments, stdin: stdin, timeout: timeout)
    }

    /// What `xclip -o` prints for the selection, with `arguments` (`-selection clipboard`,
    /// `-t TARGET`).
    public func xclipOut(_ arguments: [String], harness: DaemonHarness) -> DaemonHarness.Result {
        run("xclip", ["-o"] + arguments, harness: harness)
    }

    /// Starts an owner that stays in the foreground (`xclip -quiet`, `xsel --nodetach`)
    /// with `data` on its stdin; the caller ends it, or the server does when it ends.
    public func startOwner(_ tool: String, _ arguments: [String], data: [UInt8]) throws -> ChildProcess {
        guard let harness else { throw HarnessError("the harness has ended") }
        let owner = try harness.spawn("/usr/bin/env", ["DISPLAY=\(display)", tool] + arguments, stdin: data)
        owners.append(owner)
        return owner
    }
}
