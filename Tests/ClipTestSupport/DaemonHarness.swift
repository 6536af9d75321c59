import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs the real `clipd` binary: daemons as child processes with their own `--home`, and
/// CLI commands against them. Every process started is a `ChildProcess` the harness ends
/// (with everything it started) when the test ends, and every command it runs to
/// completion has a time limit: past it the command is killed and the test fails with
/// what it printed, so no test can wait forever on a process.
public final class DaemonHarness: @unchecked Sendable {
    // Used from one test (or the benchmark) at a time: suites using it are serialized. The
    // class exists to clean up processes and directories in deinit.
    public static var binary: String {
        ProcessInfo.processInfo.environment["CLIPD_BINARY"] ?? VectorFile.packageRoot.appendingPathComponent(".build/debug/clipd").path
    }

    /// How long a command run to completion may take unless its caller says otherwise.
    public static let commandTimeLimit: TimeInterval = 60

    public struct Result {
        /// The exit code (128 + the signal for a process a signal ended); -1 when it could
        /// not start or was killed at its time limit.
        public let status: Int32
        public let stderr: String
        public var stdoutBytes: [UInt8] = []
        /// The command ran past its time limit and was killed.
        public var timedOut = false

        /// Standard output as text, made when asked for: decoding tens of MiB of binary
        /// output (repairing every invalid sequence) took most of a minute.
        public var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }

        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stderr = stderr
            stdoutBytes = Array(stdout.utf8)
        }

        public init(status: Int32, stderr: String, stdoutBytes: [UInt8]) {
            self.status = status
            self.stderr = stderr
            self.stdoutBytes = stdoutBytes
        }
    }

    public final class Daemon {
        public let name: String
        public let home: String
        public let port: Int?
        public var process: ChildProcess?
        public let log: String
        public let extraArguments: [String]
        public var namespace: String?
        /// The X display the daemon runs on (with `--backend x11`).
        public var display: String?
        /// The Wayland socket the daemon runs on (with `--backend wayland` or `auto`).
        public var wayland: String?
        /// Extra environment for the daemon's process.
        public var environment: [String: String] = [:]
        /// A command the daemon runs under (strace, say): its words come before clipd's.
        public var launcher: [String] = []

        init(name: String, home: String, port: Int?, log: String, extraArguments: [String]) {
            self.name = name
            self.home = home
            self.port = port
            self.log = log
            self.extraArguments = extraArguments
        }

        public var address: String { "127.0.0.1:\(port!)" }
        public var controlSocket: String { home + "/clipd.sock" }
    }

    public let root: String
    public private(set) var daemons: [Daemon] = []
    /// Processes started to run alongside the test (watchers, owners, helpers).
    private var background: [ChildProcess] = []
    private var serial = 0
    private let lock = NSLock()

    public init() {
        var template = Array("/tmp/clipd-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        root = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Objects that must live as long as the daemons (X servers), ended after them.
    private var resources: [AnyObject] = []

    /// Keeps `resource` alive until the harness ends, after its daemons.
    public func retain(_ resource: AnyObject) { resources.append(resource) }

    /// Stops every daemon and background process the harness started, then ends what it
    /// retained (X servers).
    public func stopAll() {
        for p in background { p.stop(grace: 2) }
        for d in daemons { stop(d) }
        resources.removeAll()
    }

    deinit {
        stopAll()
        if ProcessInfo.processInfo.environment["CLIPD_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// A free TCP port on 127.0.0.1 (bound, then released for the daemon).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Prepares a daemon's home without starting it.
    public func prepare(_ name: String, listen: Bool = true, arguments: [String] = []) -> Daemon {
        let home = root + "/" + name
        mkdir(home, 0o700)
        let daemon = Daemon(name: name, home: home, port: listen ? Self.freePort() : nil, log: home + ".log", extraArguments: arguments)
        daemons.append(daemon)
        return daemon
    }

    /// Starts a daemon and waits until its control socket answers.
    @discardableResult
    public func start(_ name: String, listen: Bool = true, arguments: [String] = []) throws -> Daemon {
        let daemon = prepare(name, listen: listen, arguments: arguments)
        try start(daemon)
        return daemon
    }

    public func start(_ daemon: Daemon, listenHost: String = "127.0.0.1") throws {
        var arguments = ["run", "--home", daemon.home, "--name", daemon.name]
        // The memory clipboard unless a test asks for a desktop backend (DISPLAY may be set).
        if !daemon.extraArguments.contains("--backend") { arguments += ["--backend", "memory"] }
        if let port = daemon.port { arguments += ["--listen", "\(listenHost):\(port)"] }
        arguments += daemon.extraArguments
        var environment: [String: String]?
        if daemon.display != nil || daemon.wayland != nil || !daemon.environment.isEmpty {
            var merged = ProcessInfo.processInfo.environment
            if daemon.display != nil || daemon.wayland != nil {
                merged["DISPLAY"] = daemon.display
                merged["WAYLAND_DISPLAY"] = daemon.wayland
            }
            merged.merge(daemon.environment) { $1 }
            environment = merged
        }
        var command = daemon.launcher + [Self.binary] + arguments
        if let ns = daemon.namespace { command = ["/usr/sbin/ip", "netns", "exec", ns] + command }
        let process = try ChildProcess(command[0], Array(command.dropFirst()), environment: environment,
                                       stdout: .file(daemon.log), stderr: .file(daemon.log))
        daemon.process = process
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if clipd(["status"], daemon, timeout: 10).status == 0 { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw HarnessError("daemon \(daemon.name) did not start; log:\n\(logText(daemon))")
    }

    /// Stops the daemon with SIGTERM (SIGKILL after 10 s); returns the signal that ended it
    /// (nil for an exit) and its status, or nil if it was not running.
    @discardableResult
    public func stop(_ daemon: Daemon) -> (signal: Int32?, status: Int32)? {
        guard let process = daemon.process, process.isRunning else { return nil }
        process.stop(grace: 10)
        return (process.terminationSignal, process.terminationStatus)
    }

    public func logText(_ daemon: Daemon) -> String {
        (try? String(contentsOfFile: daemon.log, encoding: .utf8)) ?? ""
    }

    /// Runs `clipd ARGS --home HOME` to completion, within `timeout` seconds.
    @discardableResult
    public func clipd(_ arguments: [String], _ daemon: Daemon?, stdin: [UInt8]? = nil, timeout: TimeInterval = commandTimeLimit) -> Result {
        var full = arguments
        if let daemon { full.insert(contentsOf: ["--home", daemon.home], at: Self.optionIndex(arguments)) }
        return run(Self.binary, full, stdin: stdin, timeout: timeout)
    }

    /// Where options go in `clipd ARGS`: after the command, and after the subcommand of the
    /// commands that have them (`config reload`, `peers set`).
    static func optionIndex(_ arguments: [String]) -> Int {
        guard arguments.count > 1, ["config", "peers"].contains(arguments[0]), !arguments[1].hasPrefix("-") else { return 1 }
        return 2
    }

    /// A fresh path in the harness's directory for a command's files.
    public func scratchPath(_ stem: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        serial += 1
        return root + "/\(stem)-\(serial)"
    }

    /// Runs `executable` to completion, within `timeout` seconds: past it the command and
    /// everything it started are killed, the test records a failure naming the command and
    /// what it printed, and the result says `timedOut`.
    public func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil, environment: [String: String]? = nil,
                    timeout: TimeInterval = commandTimeLimit) -> Result {
        let base = scratchPath("run")
        defer { for suffix in [".in", ".out", ".err"] { unlink(base + suffix) } }
        var input = ChildProcess.Redirect.null
        if let stdin {
            guard FileManager.default.createFile(atPath: base + ".in", contents: Data(stdin)) else {
                return Result(status: -1, stdout: "", stderr: "cannot write \(base).in")
            }
            input = .file(base + ".in")
        }
        let process: ChildProcess
        do {
            process = try ChildProcess(executable, arguments, environment: environment, stdin: input, stdout: .file(base + ".out"), stderr: .file(base + ".err"))
        } catch {
            return Result(status: -1, stdout: "", stderr: "\(error)")
        }
        let finished = process.wait(timeout: timeout)
        if !finished { process.stop(grace: 2) }
        let out = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let err = String(decoding: FileManager.default.contents(atPath: base + ".err") ?? Data(), as: UTF8.self)
        var result = Result(status: finished ? process.terminationStatus : -1, stderr: err, stdoutBytes: [UInt8](out))
        if !finished {
            result.timedOut = true
            Self.reportTimeout(process.commandLine, limit: timeout, stdout: result.stdout, stderr: err)
        }
        return result
    }

    /// A process killed at its time limit fails the test that ran it, with what it printed.
    static func reportTimeout(_ command: String, limit: TimeInterval, stdout: String, stderr: String) {
        let message = "`\(command)` did not finish within \(Int(limit)) s and was killed; stdout: \(stdout.suffix(800).debugDescription), stderr: \(stderr.suffix(800).debugDescription)"
        if Test.current != nil {
            Issue.record(Comment(rawValue: message))
        } else {
            FileHandle.standardError.write(Data(("harness: " + message + "\n").utf8))
        }
    }

    /// Starts a process that runs beside the test (a helper, a watcher, an owner); the
    /// harness ends it, and whatever it started, when the test ends. Its output goes to
    /// `log` when given (standard error to `errors`, when that is given).
    public func spawn(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                      stdin: [UInt8]? = nil, log: String? = nil, errors: String? = nil) throws -> ChildProcess {
        var input = ChildProcess.Redirect.null
        if let stdin {
            let path = scratchPath("stdin")
            guard FileManager.default.createFile(atPath: path, contents: Data(stdin)) else { throw HarnessError("cannot write \(path)") }
            input = .file(path)
        }
        let output = log.map { ChildProcess.Redirect.file($0) } ?? .null
        let errorOutput = errors.map { ChildProcess.Redirect.file($0) } ?? output
        let process = try ChildProcess(executable, arguments, environment: environment, stdin: input, stdout: output, stderr: errorOutput)
        lock.lock()
        background.append(process)
        lock.unlock()
        return process
    }

    /// A CLI command left running (`startCLI`), its output going to files.
    public struct RunningCommand {
        public let process: ChildProcess
        public let stdoutPath: String
        public let stderrPath: String
    }

    /// Starts `clipd ARGS --home HOME` without waiting for it; `finish` collects it.
    public func startCLI(_ arguments: [String], _ daemon: Daemon, stdin: String? = nil) throws -> RunningCommand {
        var full = arguments
        full.insert(contentsOf: ["--home", daemon.home], at: Self.optionIndex(arguments))
        let base = scratchPath("cli")
        let process = try ChildProcess(Self.binary, full, stdin: stdin.map { .file($0) } ?? .null,
                                       stdout: .file(base + ".out"), stderr: .file(base + ".err"))
        lock.lock()
        background.append(process)
        lock.unlock()
        return RunningCommand(process: process, stdoutPath: base + ".out", stderrPath: base + ".err")
    }

    /// Waits for a command started with `startCLI`, at most `timeout` seconds: past it the
    /// command is killed and the test fails with what it printed.
    public func finish(_ command: RunningCommand, timeout: TimeInterval = commandTimeLimit) -> Result {
        let finished = command.process.wait(timeout: timeout)
        if !finished { command.process.stop(grace: 2) }
        let out = FileManager.default.contents(atPath: command.stdoutPath) ?? Data()
        let err = String(decoding: FileManager.default.contents(atPath: command.stderrPath) ?? Data(), as: UTF8.self)
        var result = Result(status: finished ? command.process.terminationStatus : -1, stderr: err, stdoutBytes: [UInt8](out))
        if !finished {
            result.timedOut = true
            Self.reportTimeout(command.process.commandLine, limit: timeout, stdout: result.stdout, stderr: err)
        }
        return result
    }

    /// Starts a listening daemon "alpha" and a dialling daemon "beta" and pairs them: the
    /// set-up most integration tests share.
    public func startPairedDaemons(alphaArguments: [String] = [], betaArguments: [String] = []) throws -> (Daemon, Daemon) {
        let a = try start("alpha", arguments: alphaArguments)
        let b = try start("beta", listen: false, arguments: betaArguments)
        try pair(b, with: a)
        return (a, b)
    }

    /// Starts a daemon with the X11 backend on `display`.
    @discardableResult
    public func startOnDisplay(_ name: String, display: String, listen: Bool = true, arguments: [String] = []) throws -> Daemon {
        let daemon = prepare(name, listen: listen, arguments: ["--backend", "x11"] + arguments)
        daemon.display = display
        try start(daemon)
        return daemon
    }

    /// Starts a daemon with the Wayland backend on the compositor at `socket`.
    @discardableResult
    public func startOnCompositor(_ name: String, socket: String, listen: Bool = true, arguments: [String] = []) throws -> Daemon {
        let daemon = prepare(name, listen: listen, arguments: ["--backend", "wayland"] + arguments)
        daemon.wayland = socket
        try start(daemon)
        return daemon
    }

    /// Pairs `joiner` with `listener` through the CLI, the way a person would.
    public func pair(_ joiner: Daemon, with listener: Daemon, address: String? = nil) throws {
        let (code, window) = try openWindow(listener)
        let join = clipd(["pair", code, address ?? listener.address], joiner)
        guard join.status == 0 else { throw HarnessError("pair join failed: \(join.stderr)") }
        guard window.wait(timeout: 30) else {
            window.stop(grace: 2)
            throw HarnessError("the pairing window did not close within 30 s of the join")
        }
        guard window.terminationStatus == 0 else { throw HarnessError("pair window failed") }
    }

    /// Runs `clipd pair` on `listener`; returns the code from stdout's first line (within
    /// 30 s) and the still-running window process.
    public func openWindow(_ listener: Daemon) throws -> (String, ChildProcess) {
        let output = scratchPath("pair") + ".out"
        let process = try ChildProcess(Self.binary, ["pair", "--home", listener.home], stdout: .file(output))
        lock.lock()
        background.append(process)
        lock.unlock()
        var line: Substring?
        _ = eventually(timeout: 30) {
            let text = String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
            line = text.firstIndex(of: "\n").map { text[..<$0] }
            return line != nil || !process.isRunning
        }
        let code = String(line ?? "")
        guard code.split(separator: "-").count == 4 else {
            process.stop(grace: 2)
            throw HarnessError("no pairing code on stdout within 30 s (got '\(code)')")
        }
        return (code, process)
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes. For waiting on
    /// asynchronous delivery, never for measuring speed.
    public func eventually(timeout: TimeInterval = 15, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// Waits until `count` watches (`clipd recv --watch`) are registered with the daemon, as
    /// `clipd status` counts them: a printing watch shows changes from then on only.
    public func awaitWatches(_ daemon: Daemon, _ count: Int = 1) -> Bool {
        eventually(timeout: 30) { clipd(["status"], daemon, timeout: 10).stdout.contains("watches: \(count) ") }
    }

    /// The item bytes a daemon received from peers, from the output of `clipd status`.
    public static func receivedBytes(_ status: String) throws -> UInt64 {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("item data: received ") }),
              let open = line.firstIndex(of: "("), let close = line.firstIndex(of: ")"),
              let value = UInt64(line[line.index(after: open)..<close].split(separator: " ")[0])
        else { throw HarnessError("no item data line in: \(status)") }
        return value
    }

    /// The text `clipd recv` prints, or nil when it fails.
    public func received(_ daemon: Daemon, primary: Bool = false) -> String? {
        let result = clipd(primary ? ["recv", "-p"] : ["recv"], daemon)
        return result.status == 0 ? result.stdout : nil
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension DaemonHarness.Daemon {
    /// A field of the daemon's /proc status in KiB (`VmRSS`, `VmHWM`), or nil when it is not running.
    public func memoryKiB(_ field: String = "VmHWM") -> Int? {
        guard let pid = process?.processIdentifier,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    /// Descriptors the daemon has open, or nil when it is not running.
    public var openDescriptors: Int? {
        guard let pid = process?.processIdentifier else { return nil }
        return (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }
}
