import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A QEMU guest under TCG booted for one test: Debian's kernel and an initramfs holding
/// busybox and the clipd under test (scripts/build-test-guest.sh). Tests drive it through
/// a shell on the virtio-serial port org.clipd.test; clipd's own port org.clipd.0 is a
/// chardev socket at `clipdSocket` (QEMU listens) unless the caller wires it otherwise.
/// Ended by PID after the harness's daemons.
public final class QEMUGuest {
    public static let qemu = "/usr/bin/qemu-system-x86_64"
    public static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: qemu) }

    /// Where the image lives, rebuilt once per test process from the clipd under test.
    public static let imageDirectory = VectorFile.packageRoot.appendingPathComponent(".build/test-guest").path
    nonisolated(unsafe) private static var imageBuilt = false
    private static let imageLock = NSLock()

    public let directory: String
    /// QEMU's chardev server socket for the guest's org.clipd.0.
    public let clipdSocket: String
    private let testSocket: String
    private var process: ChildProcess?
    /// This guest's turn: one guest runs at a time in the whole test run.
    private var slot: GuestSlot?
    private var shellFD: Int32 = -1
    private var pending: [UInt8] = []

    /// Builds the image (kernel download on first use, cached in .build) once per process.
    public static func buildImage(harness: DaemonHarness) throws {
        imageLock.lock()
        defer { imageLock.unlock() }
        guard !imageBuilt else { return }
        let script = VectorFile.packageRoot.appendingPathComponent("scripts/build-test-guest.sh").path
        let result = harness.run("/bin/bash", [script, imageDirectory, DaemonHarness.binary, modelAgentBinary], timeout: 600)
        guard result.status == 0 else { throw HarnessError("building the test guest failed: \(result.stderr)") }
        imageBuilt = true
    }

    /// The Windows-like SPICE agent (Tests/ModelWindowsAgent), built beside clipd.
    public static var modelAgentBinary: String {
        URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().appendingPathComponent("clipd-model-agent").path
    }

    /// The QEMU arguments of the test guest, for callers that boot it their own way (passvm).
    public static var kernel: String { imageDirectory + "/vmlinuz" }
    public static var initramfs: String { imageDirectory + "/initramfs.cpio" }

    /// Boots a guest. With `command` (a whole command line, executable first: `passvm run
    /// ...`) the caller starts QEMU its own way and must wire org.clipd.test to
    /// `testSocket(in: directory)`; `directory` then holds the caller's files too.
    public init(harness: DaemonHarness, name: String = "guest", directory: String? = nil, command: [String]? = nil) throws {
        try Self.buildImage(harness: harness)
        self.directory = directory ?? harness.root + "/" + name
        mkdir(self.directory, 0o700)
        clipdSocket = self.directory + "/clipd.sock"
        testSocket = Self.testSocket(in: self.directory)
        let argv = command ?? Self.commandLine(directory: self.directory, ports: [
            "-chardev", "socket,id=clipd0,path=\(clipdSocket),server=on,wait=off",
            "-device", "virtserialport,chardev=clipd0,name=org.clipd.0",
        ])
        slot = try GuestSlot.acquire()
        harness.retain(self)
        let log = self.directory + "/launch.log"
        process = try ChildProcess(argv[0], Array(argv.dropFirst()), stdout: .file(log), stderr: .file(log))
        try connectShell(timeout: 60)
    }

    /// What the launched command printed (QEMU's, or passvm's, output).
    public var launchLog: String { (try? String(contentsOfFile: directory + "/launch.log", encoding: .utf8)) ?? "" }

    /// Sends `signal` to the launched command (SIGTERM asks passvm to power the guest down).
    public func signal(_ number: Int32) { process?.signal(number) }

    /// Waits until the launched command ends; false on timeout.
    public func waitForExit(timeout: Double) -> Bool { process?.wait(timeout: timeout) ?? true }

    public var exitStatus: Int32 { process?.terminationStatus ?? -1 }

    /// The guest CPU: QEMU's default model plus AES-NI and carry-less multiply, as on any
    /// x86 machine of the last decade. Without them OpenSSL in the guest falls back to table
    /// AES and GHASH, which TCG runs at less than half the speed; an Intel model would also turn
    /// on the guest kernel's page-table isolation, which costs TCG a TLB flush per syscall;
    /// `max` adds AVX, whose OpenSSL path TCG runs at half the speed of this one.
    public static let cpuArguments = ["-cpu", "qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,+aes,+pclmulqdq"]

    /// QEMU's command line for the test guest with `ports` (virtserialport devices and their
    /// chardevs, on the guest's virtio-serial bus) besides the test port; files in `directory`.
    public static func commandLine(directory: String, ports: [String]) -> [String] {
        [qemu, "-accel", "tcg"] + cpuArguments + ["-m", "1024", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", kernel, "-initrd", initramfs, "-append", "console=ttyS0 quiet panic=-1",
            "-serial", "file:\(directory)/serial.log", "-device", "virtio-serial-pci",
        ] + ports + testPortArguments(directory: directory)
    }

    /// The SPICE agent's port on QEMU's chardev server socket `socket`: with `waitForHolder`
    /// QEMU runs the guest only once a port holder is connected; with `qmp`, a QMP socket
    /// for the holder (the port's id is `vdagentport`).
    public static func agentPortArguments(socket: String, waitForHolder: Bool, qmp: String?) -> [String] {
        ["-chardev", "socket,id=vdagent,path=\(socket),server=on,wait=\(waitForHolder ? "on" : "off")",
         "-device", "virtserialport,chardev=vdagent,id=vdagentport,name=com.redhat.spice.0"]
            + (qmp.map { ["-qmp", "unix:\($0),server=on,wait=off"] } ?? [])
    }

    /// Writes `directory/guest.toml`: a passvm config that boots this test guest under TCG
    /// with its test port wired, plus `sections` (TOML tables such as `[clipboard]`), and
    /// returns its path.
    public static func writePassvmConfig(name: String, directory: String, sections: String = "") throws -> String {
        let extra = (["-serial", "file:\(directory)/serial.log"] + testPortArguments(directory: directory))
            .map { "\"\($0)\"" }.joined(separator: ", ")
        let path = directory + "/guest.toml"
        try """
            name = "\(name)"
            memory = 1024
            cpus = 1
            accel = "tcg"
            extra = [\(extra)]

            \(sections)

            [boot]
            kernel = "\(kernel)"
            initrd = "\(initramfs)"
            append = "console=ttyS0 quiet panic=-1"
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The test port's socket inside `directory`.
    public static func testSocket(in directory: String) -> String { directory + "/test.sock" }

    /// QEMU arguments for the test shell's port (added to a caller's own command line).
    public static func testPortArguments(directory: String) -> [String] {
        ["-chardev", "socket,id=clipdtest,path=\(testSocket(in: directory)),server=on,wait=off",
         "-device", "virtserialport,chardev=clipdtest,name=org.clipd.test"]
    }

    private func connectShell(timeout: Double) throws {
        guard let process else { return }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && process.isRunning {
            if let fd = UnixSocket.connect(testSocket) {
                shellFD = fd
                if (try? readUntil("clipd-guest-ready\n", deadline: deadline)) != nil { return }
                Glibc.close(fd)
                shellFD = -1
            }
            usleep(50_000)
        }
        throw HarnessError("the test guest did not come up: \(launchLog.suffix(600))")
    }

    /// Runs `command` in the guest's shell; returns its output and exit status.
    @discardableResult
    public func shell(_ command: String, timeout: Double = 30) throws -> (output: String, status: Int32) {
        let marker = "__clipd_done_\(UUID().uuidString.prefix(8))__"
        let line = "\(command)\necho \"\(marker) $?\"\n"
        _ = Array(line.utf8).withUnsafeBytes { write(shellFD, $0.baseAddress, $0.count) }
        let text = try readUntil(marker + " ", deadline: Date().addingTimeInterval(timeout), thenLine: true)
        let parts = text.components(separatedBy: marker + " ")
        let status = Int32(parts.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
        return (parts.first ?? "", status)
    }

    /// Starts `clipd run` in the guest (home /root/c, name "guest", log /tmp/clipd.log) and
    /// waits until it answers `clipd status`; the error carries its log when it does not.
    public func startClipd(arguments: [String] = [], timeout: Double = 60) throws {
        try shell((["clipd", "run", "--home", "/root/c", "--name", "guest"] + arguments).joined(separator: " ") + " >/tmp/clipd.log 2>&1 &")
        let up = try shell("""
            i=0; until clipd status --home /root/c >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 200 ] && break; sleep 0.1; done
            clipd status --home /root/c || { echo "clipd in the guest did not answer; its log:"; cat /tmp/clipd.log; }
            """, timeout: timeout)
        guard up.status == 0 else { throw HarnessError("clipd did not start in the guest: \(up.output)") }
    }

    /// Waits until the guest's shell (or a background command started from it) has printed
    /// `needle`; what came before it is consumed.
    public func waitForOutput(_ needle: String, timeout: Double) throws {
        _ = try readUntil(needle, deadline: Date().addingTimeInterval(timeout))
    }

    /// Sends a line to the guest's shell without waiting for anything.
    public func type(_ line: String) {
        _ = Array((line + "\n").utf8).withUnsafeBytes { write(shellFD, $0.baseAddress, $0.count) }
    }

    /// Reads until `needle` (and, with `thenLine`, the rest of its line) has arrived.
    private func readUntil(_ needle: String, deadline: Date, thenLine: Bool = false) throws -> String {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            let text = String(decoding: pending, as: UTF8.self)
            if let range = text.range(of: needle) {
                let rest = text[range.upperBound...]
                if !thenLine {
                    pending = Array(rest.utf8)
                    return String(text[..<range.upperBound])
                }
                if let newline = rest.firstIndex(of: "\n") {
                    pending = Array(text[text.index(after: newline)...].utf8)
                    return String(text[...newline])
                }
            }
            var fds = [pollfd(fd: shellFD, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 1, 100) > 0 else { continue }
            let count = read(shellFD, &buffer, buffer.count)
            if count > 0 { pending += buffer[0..<count] }
            if count == 0 { throw HarnessError("the guest's shell went away") }
        }
        throw HarnessError("the guest did not answer in time (got: \(String(decoding: pending.suffix(400), as: UTF8.self)))")
    }

    /// Powers the guest off (QEMU ends) and gives the next guest its turn.
    public func kill() {
        if shellFD >= 0 {
            Glibc.close(shellFD)
            shellFD = -1
        }
        process?.stop(grace: 3)
        slot = nil
    }

    deinit { kill() }
}
