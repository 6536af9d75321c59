import ClipTestSupport
import Foundation
import Testing

/// The VM channel against a real QEMU guest under TCG: clipd in the guest on its
/// virtio-serial port, the host's clipd on QEMU's chardev socket.
@Suite("Integration: VM channel with a QEMU guest", .serialized,
       .enabled(if: QEMUGuest.isAvailable, "needs qemu-system-x86_64 (make test installs it)"))
struct VirtioChannelTests {
    let h = DaemonHarness()

    /// Starts clipd in the guest (it finds its port by name) and waits for its socket.
    func startGuestDaemon(_ guest: QEMUGuest) throws {
        try guest.shell("clipd run --home /root/c --name guest >/tmp/clipd.log 2>&1 &")
        let up = try guest.shell("for i in $(seq 100); do clipd status --home /root/c >/dev/null 2>&1 && break; sleep 0.1; done; clipd status --home /root/c")
        guard up.status == 0 else { throw HarnessError("clipd did not start in the guest: \(up.output)") }
    }

    func guestReceived(_ guest: QEMUGuest) -> String? {
        guard let result = try? guest.shell("clipd recv --home /root/c"), result.status == 0 else { return nil }
        return result.output
    }

    @Test func hostAndGuestPairOverTheChannelAndSyncBothWays() throws {
        let guest = try QEMUGuest(harness: h)
        let host = try h.start("host", arguments: ["--virtio", "unix:\(guest.clipdSocket)"])
        try startGuestDaemon(guest)
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
    }
}
