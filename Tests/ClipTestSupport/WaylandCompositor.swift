import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A headless Wayland compositor started for one test and ended by PID after the harness's
/// daemons: sway (wlroots, offers zwlr_data_control_manager_v1 version 2), weston (no
/// data-control at all) or clipd-test-compositor (a seat and the data-control protocols
/// asked for, ext-data-control-v1 among them). Clients reach it through `socket`, an
/// absolute path usable as WAYLAND_DISPLAY.
public final class WaylandCompositor {
    public enum Kind: Equatable {
        case sway, weston
        /// clipd-test-compositor with its options: `--ext`, `--wlr=VERSION`.
        case minimal([String])

        var name: String {
            switch self {
            case .sway: "sway"
            case .weston: "weston"
            case .minimal: "clipd-test-compositor"
            }
        }
    }

    public let kind: Kind
    /// The compositor's socket, absolute.
    public private(set) var socket = ""
    private var process: ChildProcess?
    /// Copies started on this compositor: ended with it.
    private var copies: [ChildProcess] = []
    /// Weak: the harness keeps the compositor (and ends it after its daemons).
    private weak var harness: DaemonHarness?
    private let directory: String
    private let runtime: String
    private let log: String

    public static func isAvailable(_ kind: Kind) -> Bool {
        switch kind {
        case .sway: FileManager.default.isExecutableFile(atPath: "/usr/bin/sway") && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
        case .weston: FileManager.default.isExecutableFile(atPath: "/usr/bin/weston")
        case .minimal: FileManager.default.isExecutableFile(atPath: minimalBinary)
        }
    }

    /// Built next to clipd by `swift build`.
    static var minimalBinary: String {
        URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().appendingPathComponent("clipd-test-compositor").path
    }

    public static var clipboardToolsAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/wl-copy") && FileManager.default.isExecutableFile(atPath: "/usr/bin/wl-paste")
    }

    /// Starts a compositor that lives as long as `harness`. sway refuses to run as root, so
    /// under root it runs as `nobody` in a directory of its own outside the harness's
    /// private one; root clients can still connect to its socket.
    public init(_ kind: Kind, harness: DaemonHarness) throws {
        self.kind = kind
        self.harness = harness
        var template = Array("/tmp/clipd-\(kind.name)-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { throw HarnessError("mkdtemp failed") }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        runtime = directory + "/run"
        mkdir(runtime, 0o700)
        log = directory + "/\(kind.name).log"
        let asNobody = kind == .sway && getuid() == 0
        if asNobody {
            chmod(directory, 0o755)
            chown(directory, 65534, 65534)
            chown(runtime, 65534, 65534)
        }
        try launch()
        harness.retain(self)
    }

    /// Starts the compositor process and waits until its socket accepts connections.
    private func launch() throws {
        let asNobody = kind == .sway && getuid() == 0
        try? FileManager.default.removeItem(atPath: runtime + "/ready")
        var command: [String]
        switch kind {
        case .sway:
            let config = directory + "/sway.conf"
            try? FileManager.default.removeItem(atPath: config)
            try """
                xwayland disable
                output HEADLESS-1 resolution 640x480
                exec touch \(runtime)/ready
                """.write(toFile: config, atomically: true, encoding: .utf8)
            chmod(config, 0o644)
            command = ["env", "-i", "PATH=/usr/bin:/bin", "HOME=\(directory)", "XDG_RUNTIME_DIR=\(runtime)",
                       "WLR_BACKENDS=headless", "WLR_LIBINPUT_NO_DEVICES=1", "WLR_RENDERER=pixman"]
            if asNobody { command += ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] }
            command += ["sway", "-c", config]
        case .weston:
            command = ["env", "-i", "PATH=/usr/bin:/bin", "HOME=\(directory)", "XDG_RUNTIME_DIR=\(runtime)",
                       "weston", "--backend=headless-backend.so", "--shell=fullscreen-shell.so", "--no-config",
                       "--socket=wayland-clipd"]
        case .minimal(let options):
            command = ["env", "-i", "XDG_RUNTIME_DIR=\(runtime)", Self.minimalBinary, "wayland-clipd"] + options
        }
        try? FileManager.default.removeItem(atPath: log)
        // The PID recorded is the compositor's own: env and setpriv exec.
        let process = try ChildProcess("/usr/bin/env", command.dropFirst().map { $0 }, environment: [:], stdout: .file(log), stderr: .file(log))
        self.process = process
        let deadline = Date().addingTimeInterval(15)
        var found: String?
        while Date() < deadline && process.isRunning {
            let ready = kind != .sway || FileManager.default.fileExists(atPath: runtime + "/ready")
            if ready, let name = try? FileManager.default.contentsOfDirectory(atPath: runtime).first(where: { $0.hasPrefix("wayland-") && !$0.hasSuffix(".lock") }),
               Self.accepts(runtime + "/" + name) {
                found = runtime + "/" + name
                break
            }
            usleep(10_000)
        }
        guard let found else {
            process.stop(grace: 2)
            throw HarnessError("\(kind.name) did not start within 15 s: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        socket = found
    }

    /// Starts the compositor again in the same place after `kill()`: the same socket
    /// path comes back.
    public func restart() throws {
        let before = socket
        try launch()
        guard socket == before else { throw HarnessError("\(kind.name) came back on \(socket), not \(before)") }
    }

    /// Whether something listens on the Unix socket at `path`.
    private static func accepts(_ path: String) -> Bool {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }

    /// Ends the compositor now (the desktop "goes away").
    public func kill() {
        for copy in copies { copy.stop(grace: 1) }
        copies.removeAll()
        process?.stop(grace: 2)
    }

    deinit {
        kill()
        if ProcessInfo.processInfo.environment["CLIPD_KEEP_TEST_DIRS"] == nil { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Runs a Wayland client (wl-paste, wl-copy) against this compositor to completion,
    /// within `timeout` seconds.
    public func run(_ tool: String, _ arguments: [String], stdin: [UInt8]? = nil, harness: DaemonHarness,
                    timeout: TimeInterval = DaemonHarness.commandTimeLimit) -> DaemonHarness.Result {
        harness.run("/usr/bin/env", ["WAYLAND_DISPLAY=\(socket)", tool] + arguments, stdin: stdin, timeout: timeout)
    }

    /// Starts `wl-copy --foreground` with `data` on its stdin; the caller ends it (or a later
    /// copy replaces it and it exits by itself), or the compositor does when it ends.
    public func startCopy(_ arguments: [String], data: [UInt8]) throws -> ChildProcess {
        guard let harness else { throw HarnessError("the harness has ended") }
        let copy = try harness.spawn("/usr/bin/env", ["WAYLAND_DISPLAY=\(socket)", "wl-copy", "--foreground"] + arguments, stdin: data)
        copies.append(copy)
        return copy
    }

    /// What `wl-paste` prints for the clipboard (or, with `primary`, the primary selection).
    public func paste(type: String? = nil, primary: Bool = false, harness: DaemonHarness,
                      timeout: TimeInterval = DaemonHarness.commandTimeLimit) -> DaemonHarness.Result {
        var arguments = ["--no-newline"]
        if primary { arguments.append("--primary") }
        if let type { arguments += ["--type", type] }
        return run("wl-paste", arguments, harness: harness, timeout: timeout)
    }
}
