import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs the real `clipd` binary: daemons as child processes with their own `--home`, and
/// CLI commands against them. Every process started is recorded and ended by PID.
public final class DaemonHarness: @unchecked Sendable {
    // Used from one test (or the benchmark) at a time: suites using it are serialized. The
    // class exists to clean up processes and directories in deinit.
    public static var binary: String {
        ProcessInfo.processInfo.environment["CLIPD_BINARY"] ?? VectorFile.packageRoot.appendingPathComponent(".build/debug/clipd").path
    }

    public struct Result {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var stdoutBytes: [UInt8] = []
    }

    public final class Daemon {
        public let name: String
        public let home: String
        public let port: Int?
        public var process: Process?
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
    private var background: [Process] = []

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
        for p in background where p.isRunning { p.terminate() }
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
        let process = Process()
        if daemon.display != nil || daemon.wayland != nil || !daemon.environment.isEmpty {
            var environment = ProcessInfo.processInfo.environment
            if daemon.display != nil || daemon.wayland != nil {
                environment["DISPLAY"] = daemon.display
                environment["WAYLAND_DISPLAY"] = daemon.wayland
            }
            environment.merge(daemon.environment) { $1 }
            process.environment = environment
        }
        let command = daemon.launcher + [Self.binary] + arguments
        if let ns = daemon.namespace {
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", ns] + command
        } else {
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
        }
        _ = FileManager.default.createFile(atPath: daemon.log, contents: nil)
        let log = FileHandle(forWritingAtPath: daemon.log)!
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        daemon.process = process
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if clipd(["status"], daemon).status == 0 { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw HarnessError("daemon \(daemon.name) did not start; log:\n\(logText(daemon))")
    }

    /// Stops a daemon with SIGTERM and waits for it.
    /// Stops the daemon with SIGTERM (SIGKILL after 10 s); returns how it ended, or nil if it
    /// was not running.
    @discardableResult
    public func stop(_ daemon: Daemon) -> (reason: Process.TerminationReason, status: Int32)? {
        guard let process = daemon.process, process.isRunning else { return nil }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus)
    }

    public func logText(_ daemon: Daemon) -> String {
        (try? String(contentsOfFile: daemon.log, encoding: .utf8)) ?? ""
    }

    /// Runs `clipd ARGS --home HOME` to completion.
    @discardableResult
    public func clipd(_ arguments: [String], _ daemon: Daemon?, stdin: [UInt8]? = nil) -> Result {
        var full = arguments
        if let daemon { full.insert(contentsOf: ["--home", daemon.home], at: Self.optionIndex(arguments)) }
        return run(Self.binary, full, stdin: stdin)
    }

    /// Where options go in `clipd ARGS`: after the command, and after the subcommand of the
    /// commands that have them (`config reload`, `peers set`).
    static func optionIndex(_ arguments: [String]) -> Int {
        guard arguments.count > 1, ["config", "peers"].contains(arguments[0]), !arguments[1].hasPrefix("-") else { return 1 }
        return 2
    }

    public func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        do { try process.run() } catch { return Result(status: -1, stdout: "", stderr: "\(error)") }
        if let stdin {
            DispatchQueue.global().async {
                input.fileHandleForWriting.write(Data(stdin))
                try? input.fileHandleForWriting.close()
            }
        }
        // Read both pipes concurrently so a full pipe never blocks the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: [UInt8](outData))
    }

    /// A CLI command left running (`startCLI`), its output going to files.
    public struct RunningCommand {
        public let process: Process
        public let stdoutPath: String
        public let stderrPath: String
    }

    /// Starts `clipd ARGS --home HOME` without waiting for it; `finish` collects it.
    public func startCLI(_ arguments: [String], _ daemon: Daemon, stdin: String? = nil) throws -> RunningCommand {
        var full = arguments
        full.insert(contentsOf: ["--home", daemon.home], at: Self.optionIndex(arguments))
        let base = root + "/cli-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = full
        process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
        process.standardError = FileHandle(forWritingAtPath: base + ".err")
        process.standardInput = stdin.map { FileHandle(forReadingAtPath: $0) ?? FileHandle.nullDevice } ?? FileHandle.nullDevice
        try process.run()
        background.append(process)
        return RunningCommand(process: process, stdoutPath: base + ".out", stderrPath: base + ".err")
    }

    /// Waits for a command started with `startCLI` (at most `timeout` seconds, then ends it).
    public func finish(_ command: RunningCommand, timeout: TimeInterval = 60) -> Result {
        let deadline = Date().addingTimeInterval(timeout)
        while command.process.isRunning && Date() < deadline { usleep(10_000) }
        if command.process.isRunning { command.process.terminate() }
        command.process.waitUntilExit()
        let out = FileManager.default.contents(atPath: command.stdoutPath) ?? Data()
        let err = FileManager.default.contents(atPath: command.stderrPath) ?? Data()
        return Result(status: command.process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self), stdoutBytes: [UInt8](out))
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
        window.waitUntilExit()
        guard window.terminationStatus == 0 else { throw HarnessError("pair window failed") }
    }

    /// Runs `clipd pair` on `listener`; returns the code from stdout's first line and the
    /// still-running window process.
    public func openWindow(_ listener: Daemon) throws -> (String, Process) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["pair", "--home", listener.home]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = FileHandle.nullDevice
        try process.run()
        background.append(process)
        var line: [UInt8] = []
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte.first == 0x0a { break }
            line += byte
        }
        let code = String(decoding: line, as: UTF8.self)
        guard code.split(separator: "-").count == 4 else { throw HarnessError("no pairing code on stdout (got '\(code)')") }
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
