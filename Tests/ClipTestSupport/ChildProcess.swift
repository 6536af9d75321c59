import CClipTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A process a test started. Unlike Foundation's `Process` it is started so that nothing
/// the test runner's thread carries reaches it: every signal is unblocked and at its
/// default action (a runner's worker threads block SIGTERM, and a child inherits that, so
/// `terminate()` did nothing), no descriptor is inherited but the three standard ones (a
/// socket a test holds must close when the test closes it), and it leads a process group
/// of its own, so ending it ends whatever it started too. Output goes to files, never
/// pipes: a grandchild that keeps a pipe open can never block a reader.
///
/// Thread-safe: the state is behind a lock, and the process is reaped exactly once.
public final class ChildProcess: @unchecked Sendable {
    /// Where a standard descriptor points.
    public enum Redirect: Sendable {
        case null
        /// A file: read from for standard input; created, or appended to, for output.
        case file(String)
    }

    public let processIdentifier: pid_t
    /// The command line, for messages.
    public let commandLine: String

    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
    /// `environment` replaces the test runner's when given.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                stdin: Redirect = .null, stdout: Redirect = .null, stderr: Redirect = .null) throws {
        commandLine = ([executable] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        clipd_test_spawn_close_from(&actions, 3)
        Self.add(stdin, as: 0, writing: false, to: &actions)
        Self.add(stdout, as: 1, writing: true, to: &actions)
        if case .file(let out) = stdout, case .file(let err) = stderr, out == err {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            Self.add(stderr, as: 2, writing: true, to: &actions)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }
        var pid: pid_t = 0
        let result = envp.map { env in posix_spawnp(&pid, executable, &actions, &attributes, argv, env) }
            ?? posix_spawnp(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw HarnessError("cannot start \(executable): \(String(cString: strerror(result)))") }
        processIdentifier = pid
    }

    private static func add(_ redirect: Redirect, as fd: Int32, writing: Bool, to actions: inout posix_spawn_file_actions_t) {
        let path: String
        switch redirect {
        case .null: path = "/dev/null"
        case .file(let file): path = file
        }
        let flags = writing ? O_WRONLY | O_CREAT | O_APPEND : O_RDONLY
        posix_spawn_file_actions_addopen(&actions, fd, path, flags, 0o600)
    }

    // MARK: State

    /// Whether the process has ended, without reaping it: while it is a zombie its pid, and
    /// so its group's id, cannot be given to another process, which makes signalling the
    /// group safe until `collect` reaps it.
    private func hasExited() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard exitStatus == nil else { return true }
        var info = siginfo_t()
        return waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_signo != 0
    }

    /// Waits for the end, ends whatever is left of the process group, and reaps the
    /// process (once); returns its wait status.
    private func collect() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var info = siginfo_t()
        while waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        Glibc.kill(-processIdentifier, SIGKILL)  // stragglers; the zombie still holds the group's id
        var status: Int32 = 0
        while waitpid(processIdentifier, &status, 0) < 0 && errno == EINTR {}
        exitStatus = status
        return status
    }

    public var isRunning: Bool { !hasExited() }

    /// The exit code, or 128 plus the signal that ended it (as a shell reports it); -1
    /// while it runs.
    public var terminationStatus: Int32 {
        guard hasExited() else { return -1 }
        let status = collect()
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// The signal that ended the process, if one did.
    public var terminationSignal: Int32? {
        guard hasExited() else { return nil }
        let signal = collect() & 0x7f
        return signal == 0 ? nil : signal
    }

    // MARK: Waiting and ending

    /// Waits at most `timeout` seconds for the process to end; true when it has.
    @discardableResult
    public func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !hasExited() {
            guard Date() < deadline else { return false }
            usleep(5_000)
        }
        return true
    }

    /// Sends `signal` to the process and everything in its group, while it runs.
    public func signal(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        guard exitStatus == nil else { return }
        Glibc.kill(-processIdentifier, number)
    }

    /// SIGTERM to the group.
    public func terminate() { signal(SIGTERM) }

    /// Ends the process: SIGTERM, then SIGKILL after `grace` seconds, and reaps it; nothing
    /// left in its group outlives it.
    public func stop(grace: TimeInterval = 5) {
        if !hasExited() {
            signal(SIGTERM)
            if !wait(timeout: grace) { signal(SIGKILL) }
        }
        _ = collect()
    }

    /// Waits for the end, at most `timeout` seconds: past it the process is killed and the
    /// test fails saying so.
    public func waitUntilExit(timeout: TimeInterval = DaemonHarness.commandTimeLimit) {
        if !wait(timeout: timeout) {
            stop(grace: 2)
            DaemonHarness.reportTimeout(commandLine, limit: timeout, stdout: "(not kept)", stderr: "(not kept)")
        }
        _ = collect()
    }

    /// Nothing outlives the value: a process still running is ended, at once.
    deinit { stop(grace: 0.5) }
}
