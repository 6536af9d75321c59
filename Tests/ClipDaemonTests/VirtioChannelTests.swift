import ClipCrypto
import ClipTestSupport
import Foundation
import Testing

/// The VM channel against a real QEMU guest under TCG: clipd in the guest on its
/// virtio-serial port, the host's clipd on QEMU's chardev socket.
@Suite("Integration: VM channel with a QEMU guest", .serialized,
       .enabled(if: QEMUGuest.isAvailable, "needs qemu-system-x86_64 (make test installs it)"))
struct VirtioChannelTests {
    let h = DaemonHarness()

    /// What the guest's clipd holds, or nil when it cannot say.
    func guestReceived(_ guest: QEMUGuest) -> String? {
        guard let result = try? guest.shell("clipd recv --home /root/c"), result.status == 0 else { return nil }
        return result.output
    }

    @Test func hostAndGuestPairOverTheChannelAndSyncBothWays() throws {
        let guest = try QEMUGuest(harness: h)
        let host = try h.start("host", arguments: ["--virtio", "unix:\(guest.clipdSocket)"])
        try guest.startClipd()
        let (code, window) = try h.openWindow(host)
        let join = try guest.shell("clipd pair --home /root/c \(code) virtio", timeout: 60)
        #expect(join.status == 0, "guest join: \(join.output)")
        window.waitUntilExit()
        #expect(window.terminationStatus == 0)
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })

        #expect(h.clipd(["send", "--wait", "from the host ✓"], host).status == 0)
        #expect(h.eventually { guestReceived(guest) == "from the host ✓" })
        #expect(try guest.shell("clipd send --home /root/c --wait 'from the guest'").status == 0)
        #expect(h.eventually { h.received(host) == "from the guest" })

        // The host's daemon restarts: the guest notices, and the new host's hello brings the
        // session back.
        h.stop(host)
        try h.start(host)
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "after the restart"], host).status == 0)
        #expect(h.eventually { guestReceived(guest) == "after the restart" })
        #expect(try guest.shell("clipd send --home /root/c --wait 'guest again'").status == 0)
        #expect(h.eventually { h.received(host) == "guest again" })

        // The host relays between its guest and its LAN peers; the guest knows only the host.
        let lan = try h.start("lan", listen: false)
        try h.pair(lan, with: host)
        #expect(try guest.shell("clipd send --home /root/c 'guest to the LAN'").status == 0)
        #expect(h.eventually { h.received(lan) == "guest to the LAN" })
        #expect(h.clipd(["send", "--wait", "LAN to the guest"], lan).status == 0)
        #expect(h.eventually { guestReceived(guest) == "LAN to the guest" })
        #expect(try guest.shell("clipd peers --home /root/c").output.split(separator: "\n").count == 1)

        // A large item copied in the guest is only announced; a paste on the LAN peer fetches
        // it through the host, which keeps no copy.
        let made = try guest.shell("head -c 1500000 /dev/urandom > /tmp/big && clipd send --home /root/c --wait < /tmp/big && sha256sum /tmp/big", timeout: 60)
        #expect(made.status == 0, "\(made.output)")
        let digest = made.output.split(separator: " ").first.map(String.init) ?? ""
        #expect(h.eventually { h.clipd(["status"], lan).stdout.contains("1.4 MiB application/octet-stream") })
        #expect(h.clipd(["status"], host).stdout.contains("(fetched when pasted)"))
        let pasted = h.clipd(["recv"], lan)
        #expect(pasted.status == 0 && pasted.stdoutBytes.count == 1_500_000, "\(pasted.stderr)")
        #expect(SHA256.hash(pasted.stdoutBytes).hexString == digest)
        #expect(h.clipd(["status"], host).stdout.contains("(fetched when pasted)"), "the host passed it on without keeping it")

        // And the other way: a large item from the LAN, pasted in the guest.
        let fromLAN = TestData.pattern(2_000_000, seed: 77)
        #expect(h.clipd(["send", "--wait"], lan, stdin: fromLAN).status == 0)
        let inGuest = try guest.shell("clipd recv --home /root/c > /tmp/got; echo status $?; sha256sum /tmp/got; cat /tmp/clipd.log | tail -5", timeout: 120)
        #expect(inGuest.output.contains("status 0") && inGuest.output.contains(SHA256.hash(fromLAN).hexString), "\(inGuest.output)")
    }
}

extension PassvmRunTests {
    /// The guest's com.redhat.spice.0 port, wired by passvm and attached by clipd: what the
    /// host wrote into it (start over, then its capabilities) is read in the guest through
    /// real virtio-serial, and an announcement written back makes the agent's session ready.
    func agentSpeaksOverTheRealPort(_ guest: QEMUGuest, host: DaemonHarness.Daemon) throws {
        let port = "$(for p in /sys/class/virtio-ports/*; do [ \"$(cat $p/name)\" = com.redhat.spice.0 ] && echo /dev/$(basename $p); done)"
        let read = try guest.shell("exec 3<>\(port); dd bs=1 count=28 <&3 2>/dev/null | od -An -tx1 | tr -d ' \\n'", timeout: 30)
        #expect(read.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0200000014000000010000000d000000000000000000000000000000", "the reset, on the server's port: \(read.output)")
        let caps: [UInt8] = [1, 0, 0, 0, 28, 0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [8, 0, 0, 0]
            + [0, 0, 0, 0] + [0x60, 0x04, 0x03, 0x00]  // request 0; by demand, selection, max clipboard, no release, serial
        let octal = caps.map { "\\" + String($0, radix: 8).leftPadded(3) }.joined()
        #expect(try guest.shell("printf '\(octal)' >&3").status == 0)
        #expect(h.eventually { h.clipd(["status"], host).stdout.contains("(1 of 1 agents ready)") }, "\(h.clipd(["status"], host).stdout)")
        try guest.shell("exec 3<&-")
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

/// The VM started by `passvm run` from a config with direct kernel boot: the launcher
/// reports the guest opening clipd's port, attaches the running host daemon to the channel,
/// and powers the VM down on SIGTERM.
@Suite("Integration: passvm run with a QEMU guest", .serialized,
       .enabled(if: QEMUGuest.isAvailable, "needs qemu-system-x86_64 (make test installs it)"))
struct PassvmRunTests {
    let h = DaemonHarness()

    static var passvm: String {
        URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().appendingPathComponent("passvm").path
    }

    @Test func passvmBootsTheGuestWiresTheChannelAndStopsOnSIGTERM() throws {
        let host = try h.start("host", listen: false)
        let directory = h.root + "/vm"
        mkdir(directory, 0o700)
        try QEMUGuest.buildImage(harness: h)
        let config = try QEMUGuest.writePassvmConfig(name: "clipd-e2e", directory: directory, sections: """
            [clipboard]
            vdagent = true
            """)
        let runtime = directory + "/run"
        let check = h.run(Self.passvm, ["check", "--runtime-dir", runtime, "--state-dir", directory + "/state", config])
        #expect(check.status == 0, "passvm check: \(check.stderr)")
        let guest = try QEMUGuest(harness: h, directory: directory, command: [
            Self.passvm, "run", "--runtime-dir", runtime, "--state-dir", directory + "/state",
            "--clipd-home", host.home, "--shutdown-timeout", "2", config,
        ])
        #expect(h.eventually { guest.launchLog.contains("clipd: attached to unix:\(runtime)/clipd.sock") }, "\(guest.launchLog)")
        // The agent's port is held by passvm (QEMU waited for it); clipd attaches to the holder.
        #expect(guest.launchLog.contains("clipd-e2e: agent port: holding the SPICE agent port: connected to QEMU at \(runtime)/vdagent.sock"), "\(guest.launchLog)")
        #expect(h.eventually { guest.launchLog.contains("clipd: attached to SPICE agent channel unix:\(runtime)/vdagent-holder.sock") }, "\(guest.launchLog)")
        try agentSpeaksOverTheRealPort(guest, host: host)

        try guest.startClipd()
        #expect(h.eventually { guest.launchLog.contains("clipd-e2e: the guest opened clipd's channel") }, "\(guest.launchLog)")
        let (code, window) = try h.openWindow(host)
        #expect(try guest.shell("clipd pair --home /root/c \(code) virtio", timeout: 60).status == 0)
        window.waitUntilExit()
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "host via passvm"], host).status == 0)
        #expect(h.eventually { (try? guest.shell("clipd recv --home /root/c").output) == "host via passvm" })
        #expect(try guest.shell("clipd send --home /root/c --wait 'guest via passvm'").status == 0)
        #expect(h.eventually { h.received(host) == "guest via passvm" })

        // The host daemon restarts while the VM runs: it attaches the channel passvm gave
        // it again, and the guest's session comes back.
        h.stop(host)
        try h.start(host)
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "after the host restarted"], host).status == 0)
        #expect(h.eventually { (try? guest.shell("clipd recv --home /root/c").output) == "after the host restarted" })
        #expect(try guest.shell("clipd send --home /root/c --wait 'guest after the restart'").status == 0)
        #expect(h.eventually { h.received(host) == "guest after the restart" })

        // SIGTERM: a power-down request (this guest ignores ACPI), then QEMU is stopped after
        // --shutdown-timeout; the channel is detached and the sockets are gone.
        guest.signal(SIGTERM)
        #expect(guest.waitForExit(timeout: 30), "passvm did not stop: \(guest.launchLog)")
        #expect(guest.launchLog.contains("clipd-e2e: asking the guest to power down"))
        #expect(guest.launchLog.contains("clipd-e2e: stopped"))
        #expect(!FileManager.default.fileExists(atPath: runtime + "/qmp.sock"))
        #expect(!FileManager.default.fileExists(atPath: runtime + "/vdagent-holder.sock"))
        #expect(h.eventually { !h.clipd(["status"], host).stdout.contains("VM channels") || h.clipd(["status"], host).stdout.contains("0 of 0") })
    }
}

extension VirtioChannelTests {
    /// QEMU as the chardev client (`unix-listen:` on the host), garbage on the channel
    /// before clipd speaks (the host discards it and the session still comes up), and a
    /// host that goes away and comes back while the guest's clipd runs (the guest reads
    /// end-of-file, backs off, and starts over at the new host's hello).
    @Test func listeningHostGarbageAndAHostThatComesBack() throws {
        let directory = h.root + "/listen-vm"
        mkdir(directory, 0o700)
        let socket = directory + "/host.sock"
        try QEMUGuest.buildImage(harness: h)
        let guest = try QEMUGuest(harness: h, directory: directory, command: [QEMUGuest.qemu,
            "-accel", "tcg"] + QEMUGuest.cpuArguments + ["-m", "1024", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", QEMUGuest.kernel, "-initrd", QEMUGuest.initramfs, "-append", "console=ttyS0 quiet panic=-1",
            "-serial", "file:\(directory)/serial.log", "-device", "virtio-serial-pci",
            "-chardev", "socket,id=clipd0,path=\(socket),reconnect=1",
            "-device", "virtserialport,chardev=clipd0,name=org.clipd.0",
        ] + QEMUGuest.testPortArguments(directory: directory))
        let host = try h.start("listening-host", arguments: ["--virtio", "unix-listen:\(socket)"])
        // Writes to the port block until QEMU has connected to the host: then 64 KiB of
        // random bytes reach the host before any frame.
        let garbage = try guest.shell("""
            for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = org.clipd.0 ] && port=/dev/$(basename $p); done
            timeout 20 sh -c "head -c 65536 /dev/urandom > $port"
            """, timeout: 40)
        #expect(garbage.status == 0, "the garbage never left the guest: \(garbage.output)")
        try guest.startClipd()
        let (code, window) = try h.openWindow(host)
        #expect(try guest.shell("clipd pair --home /root/c \(code) virtio", timeout: 60).status == 0)
        window.waitUntilExit()
        #expect(window.terminationStatus == 0)
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "over a listening host"], host).status == 0)
        #expect(h.eventually { guestReceived(guest) == "over a listening host" })

        h.stop(host)
        usleep(2_000_000)  // the guest reads end-of-file and backs off
        try h.start(host)
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })
        #expect(try guest.shell("clipd send --home /root/c --wait 'the host came back'").status == 0)
        #expect(h.eventually { h.received(host) == "the host came back" })
    }
}

extension VirtioChannelTests {
    /// The VM restarts under a host daemon that connects to QEMU's socket (`unix:`): the
    /// daemon sees the channel go, attaches again to the new QEMU, and the guest (its state
    /// carried over, as a VM's disk would) resumes the session without pairing again.
    @Test func aRestartedVMIsAttachedAgainAndResumes() throws {
        let directory = h.root + "/restarting-vm"
        let first = try QEMUGuest(harness: h, directory: directory)
        let host = try h.start("host-of-restarting", listen: false, arguments: ["--virtio", "unix:\(first.clipdSocket)"])
        try first.startClipd()
        let (code, window) = try h.openWindow(host)
        #expect(try first.shell("clipd pair --home /root/c \(code) virtio", timeout: 60).status == 0)
        window.waitUntilExit()
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "before the restart"], host).status == 0)
        // The guest's identity and its paired host, as its disk would keep them.
        let state = try first.shell("tar -c -C /root c 2>/dev/null | base64")  // the control socket is skipped
        #expect(state.status == 0)
        first.kill()
        #expect(h.eventually { h.clipd(["status"], host).stdout.contains("(0 of 1 attached)") })
        #expect(h.clipd(["status"], host).stdout.contains("0 connected"))

        let second = try QEMUGuest(harness: h, directory: directory)
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("(1 of 1 attached)") })
        let restore = try second.shell("printf '%s' '\(state.output.replacingOccurrences(of: "\n", with: ""))' | base64 -d | tar -x -C /root")
        #expect(restore.status == 0, "\(restore.output)")
        try second.startClipd()
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") }, "no new pairing needed")
        #expect(h.clipd(["send", "--wait", "after the VM restarted"], host).status == 0)
        #expect(h.eventually { guestReceived(second) == "after the VM restarted" })
        #expect(try second.shell("clipd send --home /root/c --wait 'the new VM'").status == 0)
        #expect(h.eventually { h.received(host) == "the new VM" })
    }
}
