import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The stock Linux SPICE agent as a guest, without a VM: spice-vdagentd on a unix socket
/// in place of its virtio port (it connects to `portSocket` when that is not a device) and
/// the session agent spice-vdagent on an Xvfb display of its own. Copies on that display
/// go to the host as grabs; the host's grabs become its X selections. Every process is
/// ended by PID, agent first, when the value goes away.
public final class SpiceAgentGuest {
    public static let daemonBinary = "/usr/sbin/spice-vdagentd"
    public static let agentBinary = "/usr/bin/spice-vdagent"
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: daemonBinary) && FileManager.default.isExecutableFile(atPath: agentBinary)
            && XvfbServer.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/bin/xclip")
    }

    public let x: XvfbServer
    public let portSocket: String
    private let directory: String
    private var daemon: ChildProcess?
    private var agent: ChildProcess?

    /// Starts the agents against `portSocket`, where something must already listen (a
    /// clipd with `--vdagent unix-listen:`, or a `ChardevStandIn`): spice-vdagentd gives up
    /// when it cannot connect.
    public init(harness: DaemonHarness, name: String, portSocket: String) throws {
        directory = harness.root + "/" + name
        mkdir(directory, 0o700)
        self.portSocket = portSocket
        x = try XvfbServer(harness: harness)
        try startDaemon()
        try startAgent()
        harness.retain(self)
    }

    private func spawn(_ argv: [String], log: String, environment: [String: String] = [:]) throws -> ChildProcess {
        let env = environment.map { "\($0.key)=\($0.value)" }
        return try ChildProcess("/usr/bin/env", env + argv, stdout: .file(directory + "/" + log), stderr: .file(directory + "/" + log))
    }

    private var daemonSocket: String { directory + "/vdagentd.sock" }

    private func startDaemon() throws {
        guard FileManager.default.createFile(atPath: directory + "/uinput", contents: nil) else { throw HarnessError("cannot create \(directory)/uinput") }
        daemon = try spawn([Self.daemonBinary, "-x", "-X", "-f", "-d", "-u", directory + "/uinput", "-s", portSocket, "-S", daemonSocket],
                           log: "vdagentd.log")
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: daemonSocket) {
            guard Date() < deadline, daemon?.isRunning == true else { throw HarnessError("spice-vdagentd did not start: \(log("vdagentd.log"))") }
            usleep(10_000)
        }
    }

    /// (Re)starts the session agent; spice-vdagentd opens the port once it has reported
    /// its screen.
    public func startAgent() throws {
        // It checks that the port path exists before it starts.
        agent = try spawn([Self.agentBinary, "-x", "-d", "-s", portSocket, "-S", daemonSocket], log: "vdagent.log", environment: ["DISPLAY": x.display])
    }

    /// What the agents printed.
    public func log(_ name: String) -> String { (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
    public var logs: String { "vdagentd: \(log("vdagentd.log").suffix(1500))\nvdagent: \(log("vdagent.log").suffix(1500))" }

    /// An application on the guest's display copying `data` as `type` (xclip, kept in the
    /// foreground); the caller ends it.
    public func copy(_ data: [UInt8], type: String = "UTF8_STRING", primary: Bool = false) throws -> ChildProcess {
        try x.startOwner("xclip", ["-quiet", "-selection", primary ? "primary" : "clipboard", "-t", type, "-i"], data: data)
    }

    /// Pastes on the guest's display.
    public func paste(type: String = "UTF8_STRING", primary: Bool = false, harness: DaemonHarness) -> DaemonHarness.Result {
        x.run("xclip", ["-o", "-selection", primary ? "primary" : "clipboard", "-t", type], harness: harness)
    }

    /// The types the guest's selection owner offers.
    public func targets(primary: Bool = false, harness: DaemonHarness) -> [String] {
        paste(type: "TARGETS", primary: primary, harness: harness).stdout.split(separator: "\n").map(String.init)
    }

    /// Ends the session agent and the daemon.
    public func stop() {
        agent?.stop(grace: 2)
        daemon?.stop(grace: 2)
    }

    deinit { stop() }
}
