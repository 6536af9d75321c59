import ClipCrypto
import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A QEMU guest under TCG whose SPICE agent keeps the Windows agent's rules (the model in
/// Tests/ModelWindowsAgent, under a service that restarts it every 3 s and gives up after 10
/// restarts within 60 s), on the real virtio-serial port, with the port held by passvm.
@Suite("Integration: a Windows-like SPICE agent in a QEMU guest", .serialized,
       .enabled(if: QEMUGuest.isAvailable, "needs qemu-system-x86_64 (make test installs it)"))
struct WindowsAgentIntegrationTests {
    let h = DaemonHarness()

    static var passvm: String { PassvmRunTests.passvm }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// A PNG signature and `size` pseudo-random bytes.
    static func image(_ size: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + (0..<size).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    func agentReady(_ host: DaemonHarness.Daemon) -> Bool {
        h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("(1 of 1 agents ready)") }
    }

    /// Text both ways (LF on the host, CR LF in the guest) and a PNG both ways.
    func syncsBothWays(_ host: DaemonHarness.Daemon, _ agent: ModelAgentControl, tag: String) throws {
        let text = "\(tag): from the host ✓\nsecond line"
        #expect(h.clipd(["send", "--wait", text], host).status == 0, "\(h.logText(host).suffix(800))")
        #expect(try agent.paste("text").get() == Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8), "\(agent.agentLog.suffix(800))")
        let copied = "\(tag): from the guest\r\nline 2"
        try agent.copy(Array(copied.utf8), type: "text")
        #expect(h.eventually(timeout: 20) { h.received(host) == copied.replacingOccurrences(of: "\r\n", with: "\n") }, "\(h.logText(host).suffix(800))")
        let png = Self.image(3000, seed: UInt64(tag.utf8.count))
        #expect(h.clipd(["send", "--wait", "-t", "image/png"], host, stdin: png).status == 0)
        #expect(try agent.paste("png").get() == png)
        var guestPNG = png
        guestPNG[100] ^= 0xff
        try agent.copy(guestPNG, type: "png")
        #expect(h.eventually(timeout: 20) { h.clipd(["recv", "-t", "image/png"], host).stdoutBytes == guestPNG })
    }

    /// The guest boots, and its agent starts, with no clipd anywhere: `passvm run` holds the
    /// agent's port from before the guest's first instruction, so the agent's first write
    /// succeeds and it keeps running. When clipd starts later it resets the agent in-band
    /// and syncs both ways.
    @Test func theGuestBootsBeforeAnyClipdAndSyncsOnceOneStarts() throws {
        let directory = h.root + "/vm"
        mkdir(directory, 0o700)
        let runtime = directory + "/run"
        let host = h.prepare("host", listen: false, arguments: ["--vdagent", "unix:\(runtime)/vdagent-holder.sock"])
        try QEMUGuest.buildImage(harness: h)
        let config = try QEMUGuest.writePassvmConfig(name: "windows-like", directory: directory, sections: """
            [clipboard]
            vdagent = true

            [display]
            looking_glass = true
            size = "16M"
            path = "\(directory)/looking-glass"
            """)
        // Looking Glass with clipd owning the agent's port: SPICE is there for the client's
        // input, and passvm check says how to run the client.
        let check = h.run(Self.passvm, ["check", "--runtime-dir", runtime, "--state-dir", directory + "/state", config])
        #expect(check.stderr.contains("Looking Glass with clipd owning the guest's SPICE agent port"), "\(check.stderr)")
        let guest = try QEMUGuest(harness: h, directory: directory, command: [
            Self.passvm, "run", "--runtime-dir", runtime, "--state-dir", directory + "/state",
            "--clipd-home", host.home, "--shutdown-timeout", "2", config,
        ])
        #expect(guest.launchLog.contains("its agent's port is held meanwhile"), "\(guest.launchLog)")
        let agent = ModelAgentControl(guest: guest)
        try agent.start()
        // Longer than the service's restart delay: an agent that had died would show.
        sleep(5)
        #expect(!agent.agentLog.contains("exiting"), "\(agent.agentLog)")
        #expect(h.eventually { guest.launchLog.contains("windows-like: agent port: the guest's agent opened its port") }, "\(guest.launchLog)")

        try h.start(host)
        #expect(agentReady(host), "\(h.logText(host).suffix(800))\n\(agent.agentLog)")
        try syncsBothWays(host, agent, tag: "late clipd")

        // The host copies while the guest's copy is on its way (a busy guest reads neither
        // yet): one of them stands, the same on both sides. The agent takes the host's grab
        // after its own, so the host's item it is.
        try agent.command("stall 6 -")
        #expect(h.clipd(["send", "--wait", "the host's copy"], host).status == 0)
        try agent.copy(Array("the guest's copy\r\n".utf8), type: "text")
        let grabs = agent.agentLog.components(separatedBy: "host grabbed [1]").count
        #expect(h.eventually(timeout: 30) { agent.agentLog.components(separatedBy: "host grabbed [1]").count > grabs }, "\(agent.agentLog)")
        sleep(2)  // the host's request for the guest's copy is answered (NONE) by now
        #expect(h.received(host) == "the host's copy")
        #expect(try agent.paste("text").get() == Array("the host's copy".utf8))
        #expect(agent.starts == 1, "the agent never stopped: \(agent.serviceLog)")
        #expect(!agent.agentLog.contains("exiting") && !agent.agentLog.contains("VIOLATION"), "\(agent.agentLog)")
        #expect(FileManager.default.fileExists(atPath: runtime + "/spice.sock"), "QEMU's SPICE server for the Looking Glass client")
        guest.signal(SIGTERM)
        #expect(guest.waitForExit(timeout: 30), "passvm did not stop: \(guest.launchLog)")
    }

    /// A VM started by a plain QEMU command line, its agent port held by `passvm hold` with
    /// QMP. clipd is SIGKILLed in the middle of a 4 MiB answer and started again 30 s later,
    /// the guest copying meanwhile: the agent never sees half a message, never meets a
    /// disconnected port, and sync resumes both ways with the agent never restarted. Then
    /// the agent itself restarts (its port closes and reopens) with answers still queued
    /// for the old one: none reaches the new one, and the next copy syncs.
    @Test func clipdKilledMidAnswerAndTheAgentRestartingLoseNothing() throws {
        let directory = h.root + "/plain-vm"
        mkdir(directory, 0o700)
        let qemuSocket = directory + "/vdagent.sock", holderSocket = directory + "/holder.sock", qmp = directory + "/qmp.sock"
        let host = try h.start("host", listen: false, arguments: ["--max-size", "16MiB"])
        try QEMUGuest.buildImage(harness: h)
        let holderLog = directory + "/hold.log"
        _ = try h.spawn(Self.passvm, ["hold", "--qemu", qemuSocket, "--listen", holderSocket, "--qmp", qmp, "--clipd-home", host.home],
                        log: holderLog)
        let argv = QEMUGuest.commandLine(directory: directory, ports: QEMUGuest.agentPortArguments(socket: qemuSocket, waitForHolder: true, qmp: qmp))
        let guest = try QEMUGuest(harness: h, directory: directory, command: argv)
        func held() -> String { (try? String(contentsOfFile: holderLog, encoding: .utf8)) ?? "" }
        #expect(held().contains("clipd: attached to SPICE agent channel unix:\(holderSocket)"), "\(held())")
        let agent = ModelAgentControl(guest: guest)
        try agent.start()
        #expect(agentReady(host), "\(h.logText(host).suffix(800))\n\(held())")

        // A 4 MiB image on the host; the guest asks for it three times without reading (a
        // busy guest): two answers fill the holder's queue, the third is being written when
        // clipd is killed.
        let big = Self.image(4 << 20, seed: 7)
        #expect(h.clipd(["send", "--wait", "-t", "image/png"], host, stdin: big).status == 0)
        #expect(h.eventually { agent.agentLog.contains("host grabbed [2]") }, "\(agent.agentLog)")
        try agent.command("stall 25 -")
        for _ in 0..<3 { try agent.command("request png -") }
        sleep(4)  // the requests reach clipd and its answers the holder
        host.process?.signal(SIGKILL)
        #expect(host.process?.wait(timeout: 10) == true)
        let killed = Date()
        #expect(h.eventually(timeout: 30) { held().contains("clipd went away in the middle of a message to the guest") }, "\(held())")
        // The guest copies while no clipd runs (once the stall is over, so the agent reads).
        #expect(h.eventually(timeout: 40) { agent.agentLog.contains("client disconnected") }, "\(agent.agentLog)")
        try agent.copy(Array("copied while clipd was away\r\n".utf8), type: "text")
        let wait = 30 - Date().timeIntervalSince(killed)
        if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        #expect(!agent.agentLog.contains("exiting"), "\(agent.agentLog)")

        // clipd again: it attaches the holder it was given before the kill; a reload keeps it.
        try h.start(host)
        #expect(agentReady(host), "\(h.logText(host).suffix(800))\n\(held())")
        #expect(h.clipd(["config", "reload"], host).status == 0)
        #expect(agentReady(host), "\(h.logText(host).suffix(800))")
        try syncsBothWays(host, agent, tag: "after the kill")
        #expect(agent.starts == 1, "the agent never stopped: \(agent.serviceLog)")
        #expect(!agent.agentLog.contains("exiting") && !agent.agentLog.contains("VIOLATION"), "\(agent.agentLog)")

        // The agent restarts with answers queued for it: a stall, three 4 MiB answers asked
        // for, and the agent killed before it reads them.
        #expect(h.clipd(["send", "--wait", "-t", "image/png"], host, stdin: big).status == 0)
        #expect(h.eventually { agent.agentLog.components(separatedBy: "host grabbed [2]").count > 3 }, "\(agent.agentLog)")
        try agent.command("stall 30 -")
        for _ in 0..<3 { try agent.command("request png -") }
        sleep(4)
        let before = agent.agentLog
        try guest.shell("kill -9 $(pidof clipd-model-agent)")
        #expect(h.eventually(timeout: 30) { agent.starts == 2 }, "\(agent.serviceLog)")
        #expect(h.eventually(timeout: 30) { held().contains("the guest's agent closed its port") && held().contains("the guest's agent opened its port") }, "\(held())")
        #expect(agentReady(host), "\(h.logText(host).suffix(800))\n\(held())")
        try syncsBothWays(host, agent, tag: "after the agent restarted")
        let after = String(agent.agentLog.dropFirst(before.count))
        #expect(!after.contains("an answer no paste waits for") && !after.contains("exiting") && !after.contains("VIOLATION"),
                "nothing meant for the old agent reached the new one: \(after)")
    }

    /// Looking Glass with SPICE owning the agent's port: the real QEMU takes passvm's
    /// arguments (SPICE on a unix socket, the spicevmc agent port) and the guest sees the
    /// agent's port, with no holder.
    @Test func lookingGlassWithSPICEOwningTheAgentBoots() throws {
        let directory = h.root + "/lg-vm"
        mkdir(directory, 0o700)
        let runtime = directory + "/run"
        try QEMUGuest.buildImage(harness: h)
        let config = try QEMUGuest.writePassvmConfig(name: "lg-spice", directory: directory, sections: """
            [display]
            looking_glass = true
            size = "16M"
            path = "\(directory)/looking-glass"
            """)
        let check = h.run(Self.passvm, ["check", "--runtime-dir", runtime, "--state-dir", directory + "/state", config])
        #expect(check.stderr.contains("Looking Glass with SPICE owning the guest's agent port"), "\(check.stderr)")
        let guest = try QEMUGuest(harness: h, directory: directory, command: [
            Self.passvm, "run", "--runtime-dir", runtime, "--state-dir", directory + "/state", "--shutdown-timeout", "2", config,
        ])
        let ports = try guest.shell("cat /sys/class/virtio-ports/*/name").output
        #expect(ports.contains("com.redhat.spice.0"), "\(ports)")
        #expect(FileManager.default.fileExists(atPath: runtime + "/spice.sock"))
        #expect(!guest.launchLog.contains("agent port:"), "no holder: SPICE owns the port")
        guest.signal(SIGTERM)
        #expect(guest.waitForExit(timeout: 30), "passvm did not stop: \(guest.launchLog)")
    }

    /// The premise, shown on the model: with the port not held (QEMU's chardev waiting for a
    /// client that is not there, as when clipd connects to QEMU directly and is not
    /// running), the agent's first write fails, its service restarts it every 3 s and gives
    /// up after 10 restarts within a minute; a clipd that starts afterwards finds no agent,
    /// and doctor says so and how to start it again.
    @Test func withoutAHolderTheAgentDiesAndItsServiceGivesUp() throws {
        let directory = h.root + "/unheld-vm"
        mkdir(directory, 0o700)
        let qemuSocket = directory + "/vdagent.sock"
        try QEMUGuest.buildImage(harness: h)
        let argv = QEMUGuest.commandLine(directory: directory, ports: QEMUGuest.agentPortArguments(socket: qemuSocket, waitForHolder: false, qmp: nil))
        let guest = try QEMUGuest(harness: h, directory: directory, command: argv)
        let agent = ModelAgentControl(guest: guest)
        try agent.start()
        #expect(h.eventually(timeout: 90) { agent.serviceLog.contains("gave up after 10 restarts within 60 s") }, "\(agent.serviceLog)")
        #expect(agent.agentLog.contains("exiting: a write found the host end disconnected"), "\(agent.agentLog)")
        let host = try h.start("direct", listen: false, arguments: ["--vdagent", "unix:\(qemuSocket)"])
        sleep(4)
        #expect(h.clipd(["status"], host).stdout.contains("(0 of 1 agents ready)"))
        let doctor = h.clipd(["doctor"], host).stdout
        #expect(doctor.contains("the guest's agent has not answered") && doctor.contains("must then be started by hand"), "\(doctor)")
    }
}
