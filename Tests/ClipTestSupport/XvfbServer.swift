import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An Xvfb server started for one test, on a display number no other server of the test
/// process had; ended by PID when the value goes away.
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
    ///
    /// A free display is one this test process has not used before: Xvfb's own choice
    /// (`-displayfd` alone) is the lowest free number, so a test that kills its server to
    /// see the display go would find another test's new server on the same number.
    public init(harness: DaemonHarness, display fixed: String? = nil) throws {
        let directory = harness.root
        let log = directory + "/xvfb.log"
        self.harness = harness
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let wanted = fixed ?? Self.unusedDisplay()
            let file = directory + "/xvfb-\(UUID().uuidString).display"
            // exec: the PID recorded is Xvfb's own; the shell gives it descriptor 3 to write
            // its display number to once it serves.
            let started = try ChildProcess("/bin/sh", ["-c", "exec /usr/bin/Xvfb \(wanted) -displayfd 3 -screen 0 640x480x24 -nolisten tcp -noreset -extension GLX 3>\(file)"],
                                           stdout: .file(log), stderr: .file(log))
            while Date() < deadline && started.isRunning {
                if let text = try? String(contentsOfFile: file, encoding: .utf8), let number = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    process = started
                    display = ":\(number)"
                    harness.retain(self)
                    return
                }
                usleep(10_000)
            }
            started.stop(grace: 2)
            if fixed != nil { break }  // taken, or too slow: a fixed display has no other choice
        }
        throw HarnessError("Xvfb did not start within 10 s; see \(log)")
    }

    nonisolated(unsafe) private static var nextDisplay = 20
    private static let displayLock = NSLock()

    /// A display number no server of this process had, and no other server holds now.
    private static func unusedDisplay() -> String {
        displayLock.lock()
        defer { displayLock.unlock() }
        while FileManager.default.fileExists(atPath: "/tmp/.X\(nextDisplay)-lock") || FileManager.default.fileExists(atPath: "/tmp/.X11-unix/X\(nextDisplay)") {
            nextDisplay += 1
        }
        defer { nextDisplay += 1 }
        return ":\(nextDisplay)"
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
