import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `clipd doctor` against real daemons, desktops and port trees: each problem one line
/// with its fix, exit 1 while there is one.
@Suite("Integration: clipd doctor", .serialized)
struct DoctorTests {
    let h = DaemonHarness()

    /// Runs `clipd doctor` with exactly the display variables given.
    func doctor(_ home: String, display: String? = nil, wayland: String? = nil, extra: [String] = []) -> DaemonHarness.Result {
        var arguments = ["-u", "DISPLAY", "-u", "WAYLAND_DISPLAY"]
        if let display { arguments.append("DISPLAY=\(display)") }
        if let wayland { arguments.append("WAYLAND_DISPLAY=\(wayland)") }
        return h.run("/usr/bin/env", arguments + [DaemonHarness.binary, "doctor", "--home", home] + extra)
    }

    func lines(_ result: DaemonHarness.Result, _ level: String) -> [String] {
        result.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix(level.padding(toLength: 8, withPad: " ", startingAt: 0)) }
    }

    @Test func noDaemonIsAProblemWithItsFix() throws {
        let home = h.root + "/nobody"
        mkdir(home, 0o700)
        let result = doctor(home)
        #expect(result.status == 1)
        #expect(lines(result, "problem").contains { $0.contains("no clipd daemon runs for this user") && $0.contains("; fix: start it: `clipd run`") }, "\(result.stdout)")
        #expect(lines(result, "note").contains { $0.contains("no desktop session here") })

        // A daemon killed outright leaves its socket behind: said so, with the fix.
        let crashed = try h.start("crashed", listen: false)
        kill(crashed.process!.processIdentifier, SIGKILL)
        crashed.process!.waitUntilExit()
        let stale = doctor(crashed.home)
        #expect(stale.status == 1)
        #expect(lines(stale, "problem").contains { $0.contains("the control socket \(crashed.home)/clipd.sock is there but no daemon answers") && $0.contains("fix: a crashed daemon left it") },
                "\(stale.stdout)")
    }

    @Test func peersAndTheirLastContact() throws {
        let lonely = try h.start("lonely", listen: false)
        let alone = doctor(lonely.home)
        #expect(alone.status == 1 && lines(alone, "problem").contains { $0.contains("no paired peers") && $0.contains("fix: run `clipd pair`") }, "\(alone.stdout)")

        let (a, b) = try h.startPairedDaemons()
        let healthy = doctor(b.home)
        #expect(healthy.status == 0, "\(healthy.stdout)")
        #expect(lines(healthy, "ok").contains { $0.contains("peer alpha: connected for ") }, "\(healthy.stdout)")
        #expect(healthy.stdout.hasSuffix("ok      no problems found\n"))

        h.stop(a)
        #expect(h.eventually { h.clipd(["status"], b).stdout.contains("0 connected") })
        let lost = doctor(b.home)
        #expect(lost.status == 1)
        #expect(lines(lost, "problem").contains { $0.contains("peer alpha: not connected, dialing \(a.address) (last contact ") && $0.contains("fix: check that clipd runs there") }, "\(lost.stdout)")
        // A daemon restarted while its peer is away still knows when it last saw it.
        h.stop(b)
        try h.start(b)
        #expect(lines(doctor(b.home), "problem").contains { $0.contains("peer alpha: not connected, dialing \(a.address) (last contact ") })
        #expect(h.clipd(["peers"], b).stdout.contains("\tlast contact "))
        #expect(((try? String(contentsOfFile: b.home + "/last-contact", encoding: .utf8)) ?? "").count == 32 + 1 + 10 + 1)

        #expect(h.clipd(["pause"], b).status == 0)
        #expect(lines(doctor(b.home), "problem").contains { $0.contains("sync is paused") && $0.hasSuffix("fix: clipd resume") })
    }

    @Test func channelsThatAreNotAttachedSayWhy() throws {
        let missing = h.root + "/no-vm.sock"
        let host = try h.start("host", listen: false, arguments: ["--virtio", "unix:\(missing)", "--vdagent", "unix:\(missing).agent"])
        let result = doctor(host.home)
        let problems = lines(result, "problem")
        #expect(problems.contains { $0.contains("VM channel unix:\(missing): not attached (") && $0.contains("org.clipd.0") }, "\(result.stdout)")
        #expect(problems.contains { $0.contains("SPICE agent channel unix:\(missing).agent: not attached") && $0.contains("com.redhat.spice.0") })
    }

    @Test func aGuestsPortsAreFound() throws {
        let root = h.root + "/guest-root"
        try FileManager.default.createDirectory(atPath: root + "/dev/virtio-ports", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/dev/virtio-ports/org.clipd.0", contents: nil)
        _ = FileManager.default.createFile(atPath: root + "/dev/virtio-ports/com.redhat.spice.0", contents: nil)
        let home = h.root + "/guest"
        mkdir(home, 0o700)
        let result = doctor(home, extra: ["--root", root])
        #expect(lines(result, "ok").contains { $0.contains("this is a VM guest with clipd's port \(root)/dev/virtio-ports/org.clipd.0") }, "\(result.stdout)")
        #expect(lines(result, "note").contains { $0.contains("the SPICE agent port") && $0.contains("com.redhat.spice.0") })
    }

    @Test func aBrokenConfigIsNamed() throws {
        let home = h.root + "/broken"
        mkdir(home, 0o700)
        try "max_size = \"huge\"\n".write(toFile: home + "/clipd.toml", atomically: true, encoding: .utf8)
        let result = doctor(home)
        #expect(lines(result, "problem").contains { $0.contains("invalid size 'huge'") && $0.contains("fix: edit the file, then `clipd config check`") }, "\(result.stdout)")
    }

    @Test(.enabled(if: XvfbServer.isAvailable, "needs Xvfb"))
    func anX11SessionAndADaemonOutsideIt() throws {
        let x = try XvfbServer(harness: h)
        let desk = try h.startOnDisplay("desk", display: x.display)
        let peer = try h.start("peer", listen: false)
        try h.pair(peer, with: desk)
        let onDesk = doctor(desk.home, display: x.display)
        #expect(lines(onDesk, "ok").contains { $0.contains("X11 session \(x.display): ") && $0.contains("XFixes") }, "\(onDesk.stdout)")
        #expect(onDesk.status == 0, "\(onDesk.stdout)")
        // A daemon started outside the session (a unit without DISPLAY) syncs no application.
        let outside = doctor(peer.home, display: x.display)
        #expect(lines(outside, "problem").contains { $0.contains("the daemon keeps an in-memory clipboard, but this shell is in a x11 session") && $0.contains("import-environment") }, "\(outside.stdout)")
        let gone = doctor(peer.home, display: ":97")
        #expect(lines(gone, "problem").contains { $0.contains("cannot open X display :97") })
    }

    @Test(.enabled(if: WaylandCompositor.isAvailable(.sway) && WaylandCompositor.isAvailable(.weston), "needs sway and weston"))
    func waylandSessionsWithAndWithoutDataControl() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let home = h.root + "/wl"
        mkdir(home, 0o700)
        let good = doctor(home, wayland: sway.socket)
        #expect(lines(good, "ok").contains { $0.contains("Wayland session \(sway.socket): zwlr_data_control_manager_v1 version 2 (clipboard and primary)") }, "\(good.stdout)")
        let weston = try WaylandCompositor(.weston, harness: h)
        let bare = doctor(home, wayland: weston.socket)
        #expect(lines(bare, "problem").contains { $0.contains("offers no data-control protocol") && $0.contains("fix: run clipd with --backend memory") }, "\(bare.stdout)")
    }

    @Test(.enabled(if: XvfbServer.isAvailable && WaylandCompositor.isAvailable(.sway) && WaylandCompositor.isAvailable(.weston),
                   "needs Xvfb, sway and weston"))
    func xwaylandBesideAWaylandSession() throws {
        let x = try XvfbServer(harness: h)
        let home = h.root + "/both"
        mkdir(home, 0o700)
        let sway = try WaylandCompositor(.sway, harness: h)
        let both = doctor(home, display: x.display, wayland: sway.socket)
        #expect(lines(both, "ok").contains { $0.contains("Wayland session \(sway.socket): zwlr_data_control_manager_v1") }, "\(both.stdout)")
        #expect(lines(both, "ok").contains { $0.contains("XWayland \(x.display): ") }, "\(both.stdout)")
        // A compositor without data-control is no problem while XWayland is there: auto uses it.
        let weston = try WaylandCompositor(.weston, harness: h)
        let fallback = doctor(home, display: x.display, wayland: weston.socket)
        #expect(lines(fallback, "note").contains { $0.contains("offers no data-control protocol") && $0.contains("clipd uses X11 through XWayland on \(x.display)") },
                "\(fallback.stdout)")
        #expect(!lines(fallback, "problem").contains { $0.contains("data-control") })
    }

    @Test(.enabled(if: WaylandCompositor.isAvailable(.minimal([])), "needs clipd-test-compositor (make test builds it)"))
    func whichDataControlProtocolIsNamed() throws {
        let home = h.root + "/ext"
        mkdir(home, 0o700)
        let both = try WaylandCompositor(.minimal(["--wlr=2", "--ext"]), harness: h)
        let preferred = doctor(home, wayland: both.socket)
        #expect(lines(preferred, "ok").contains { $0.contains("Wayland session \(both.socket): ext_data_control_manager_v1 version 1 (clipboard and primary)") },
                "ext-data-control is preferred when offered: \(preferred.stdout)")
        let old = try WaylandCompositor(.minimal(["--wlr=1"]), harness: h)
        let first = doctor(home, wayland: old.socket)
        #expect(lines(first, "ok").contains { $0.contains("zwlr_data_control_manager_v1 version 1 (clipboard only; primary needs version 2)") }, "\(first.stdout)")
    }
}
