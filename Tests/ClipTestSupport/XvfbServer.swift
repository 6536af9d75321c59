import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An Xvfb server started for one test: it picks a free display itself (`-displayfd`) and
/// is ended by PID when the value goes away.
public final class XvfbServer {
    public let display: String
    private let process: Process

    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/Xvfb") }

    /// Starts a server that lives as long as `harness` (and ends after its daemons).
    /// With `display`, the server takes that display number instead of a free one.
    public init(harness: DaemonHarness, display fixed: String? = nil) throws {
        let directory = harness.root
        let file = directory + "/xvfb-\(UUID().uuidString).display"
        let log = directory + "/xvfb.log"
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // exec: the PID recorded is Xvfb's own.
        let which = fixed.map { "\($0) -displayfd 3" } ?? "-displayfd 3"
        process.arguments = ["-c", "exec /usr/bin/Xvfb \(which) -screen 0 640x480x24 -nolisten tcp -noreset -extension GLX 3>\(file) </dev/null >>\(log) 2>&1"]
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: file, encoding: .utf8), let number = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                display = ":\(number)"
                harness.retain(self)
                return
            }
            usleep(10_000)
        }
        process.terminate()
        throw HarnessError("Xvfb did not start; see \(log)")
    }

    /// Ends the server now (the X server "goes away"). Xvfb sometimes lingers after SIGTERM
    /// while clients hang on, so it gets SIGKILL after 2 s.
    public func kill() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { kill() }

    /// Runs an X client (xclip, xsel) on this display to completion.
    public func run(_ tool: String, _ arguments: [String], stdin: [UInt8]? = nil, harness: DaemonHarness) -> DaemonHarness.Result {
        harness.run("/usr/bin/env", ["DISPLAY=\(display)", tool] + arguments, stdin: stdin)
    }

    /// Starts an owner that stays in the foreground (`xclip -quiet`, `xsel --nodetach`)
    /// with `data` on its stdin; the caller ends it.
    public func startOwner(_ tool: String, _ arguments: [String], data: [UInt8]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["DISPLAY=\(display)", tool] + arguments
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(data))
        try input.fileHandleForWriting.close()
        return process
    }
}
