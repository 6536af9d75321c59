import ClipTestSupport
import Foundation
import Testing

/// The guest system unit's command, run the way systemd would run it in a real QEMU guest:
/// its Environment= and ExecStart= taken from the unit as shipped, the port at the path udev
/// gives it, and the README's pairing and reading steps for root's scripts.
@Suite("Packaging: the guest unit's command in a QEMU guest", .serialized,
       .enabled(if: QEMUGuest.isAvailable, "needs qemu-system-x86_64 (make test installs it)"))
struct GuestUnitTests {
    let h = DaemonHarness()

    @Test func theGuestUnitsCommandPairsAndSyncsOverThePort() throws {
        let unit = try String(contentsOf: VectorFile.packageRoot.appendingPathComponent("packaging/systemd/clipd-guest.service.in"), encoding: .utf8)
        let lines = unit.split(separator: "\n").map(String.init)
        let environment = try #require(lines.first { $0.hasPrefix("Environment=") }).dropFirst("Environment=".count)
        let execStart = try #require(lines.first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count)
        let command = execStart.replacingOccurrences(of: "@BINDIR@/", with: "")
        let stateDirectory = "/var/lib/clipd"
        #expect(environment == "CLIPD_HOME=\(stateDirectory)" && unit.contains("StateDirectory=clipd\n"))

        let guest = try QEMUGuest(harness: h)
        let host = try h.start("host", arguments: ["--virtio", "unix:\(guest.clipdSocket)"])
        // What udev and systemd do before ExecStart: the port's link by name, the state
        // directory (StateDirectory=, 0700).
        let setUp = try guest.shell("""
            for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = org.clipd.0 ] && port=/dev/$(basename $p); done
            mkdir -p /dev/virtio-ports && ln -sf $port /dev/virtio-ports/org.clipd.0 && mkdir -p -m 700 \(stateDirectory)
            """)
        #expect(setUp.status == 0, "\(setUp.output)")
        try guest.shell("env \(environment) \(command) >/tmp/unit.log 2>&1 &")
        let up = try guest.shell("""
            i=0; until env \(environment) clipd status >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.1; done
            env \(environment) clipd status || cat /tmp/unit.log
            """, timeout: 60)
        #expect(up.status == 0 && up.output.contains("backend: memory"), "\(up.output)")

        let (code, window) = try h.openWindow(host)
        let join = try guest.shell("CLIPD_HOME=\(stateDirectory) clipd pair \(code) virtio", timeout: 60)
        #expect(join.status == 0, "\(join.output)")
        window.waitUntilExit()
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], host).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "to the guest unit"], host).status == 0)
        #expect(h.eventually { (try? guest.shell("CLIPD_HOME=\(stateDirectory) clipd recv"))?.output == "to the guest unit" })
        #expect(try guest.shell("CLIPD_HOME=\(stateDirectory) clipd send --wait 'from the guest unit'").status == 0)
        #expect(h.eventually { h.received(host) == "from the guest unit" })
        let files = try guest.shell("ls \(stateDirectory)").output
        #expect(files.contains("identity.toml") && files.contains("peers.toml") && files.contains("clipd.toml"), "\(files)")
    }
}
