import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The systemd units confine clipd (`SystemCallFilter`, `RestrictAddressFamilies`,
/// `MemoryDenyWriteExecute`). No service manager runs here to start them, so the daemon is
/// traced instead while it does its work (pairing, TCP sessions, items, watches, reloads,
/// pause, doctor, a desktop), and everything it asked the kernel for must be allowed by both
/// units: a call outside the filter would kill it under systemd.
@Suite("Packaging: the daemon stays inside its units' sandbox", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace")
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs strace and systemd-analyze"))
struct UnitSandboxTests {
    let h = DaemonHarness()

    /// A unit setting's words, from the unit as shipped.
    static func setting(_ key: String, unit: String) throws -> [String] {
        let text = try String(contentsOf: VectorFile.packageRoot.appendingPathComponent("packaging/systemd/\(unit).in"), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix(key + "=") })
        return line.dropFirst(key.count + 1).split(separator: " ").map(String.init)
    }

    /// The system calls a filter group allows, its nested groups expanded.
    func allowedCalls(_ group: String, into calls: inout Set<String>, seen: inout Set<String>) {
        guard seen.insert(group).inserted else { return }
        let listing = h.run("/usr/bin/systemd-analyze", ["syscall-filter", group]).stdout
        for line in listing.split(separator: "\n").dropFirst() {
            let word = line.trimmingCharacters(in: .whitespaces)
            if word.isEmpty || word.hasPrefix("#") { continue }
            if word.hasPrefix("@") { allowedCalls(word, into: &calls, seen: &seen) } else { calls.insert(word) }
        }
    }

    /// Starts `daemon` under strace; returns the trace file.
    func traced(_ daemon: DaemonHarness.Daemon) throws -> String {
        let trace = daemon.home + ".trace"
        daemon.launcher = ["/usr/bin/strace", "-f", "-qq", "-o", trace]
        try h.start(daemon)
        return trace
    }

    /// Stops a traced daemon by its own pid (strace ends with it) and reads the trace.
    func finish(_ daemon: DaemonHarness.Daemon, trace: String) throws -> String {
        let status = h.clipd(["status"], daemon).stdout
        let pid = try #require(status.split(separator: "\n").first?.split(separator: " ").last.flatMap { Int32($0) })
        kill(pid, SIGTERM)
        #expect(h.eventually(timeout: 20) { !(daemon.process?.isRunning ?? false) })
        return try String(contentsOfFile: trace, encoding: .utf8)
    }

    func check(_ trace: String, what: String) throws {
        var allowed: Set<String> = []
        for unit in ["clipd.service", "clipd-guest.service"] {
            var calls: Set<String> = [], seen: Set<String> = []
            for group in try Self.setting("SystemCallFilter", unit: unit) { allowedCalls(group, into: &calls, seen: &seen) }
            allowed = allowed.isEmpty ? calls : allowed.intersection(calls)
            #expect(try Self.setting("MemoryDenyWriteExecute", unit: unit) == ["yes"])
        }
        #expect(allowed.count > 100, "systemd-analyze listed too little: \(allowed.count)")
        let used = Set(trace.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            let call = fields.count == 2 ? fields[1].drop { $0 == " " } : ""
            guard let open = call.firstIndex(of: "(") else { return nil }
            let name = call[..<open]
            return name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } && !name.isEmpty ? String(name) : nil
        })
        #expect(used.count > 20, "the trace holds too little: \(used.sorted())")
        let outside = used.subtracting(allowed).subtracting(["execve"])  // execve is strace starting clipd
        #expect(outside.isEmpty, "\(what): system calls outside the units' filter: \(outside.sorted())")

        let families = Set(try Self.setting("RestrictAddressFamilies", unit: "clipd.service"))
        #expect(families == Set(try Self.setting("RestrictAddressFamilies", unit: "clipd-guest.service")))
        for line in trace.split(separator: "\n") {
            guard let range = line.range(of: "socket(AF_") else { continue }
            let family = "AF_" + line[range.upperBound...].prefix { $0.isLetter || $0.isNumber }
            #expect(families.contains(family), "\(what) opened an \(family) socket, which the units refuse")
        }
        let writableCode = trace.split(separator: "\n").filter { $0.contains("PROT_WRITE|PROT_EXEC") }
        #expect(writableCode.isEmpty, "\(what) mapped memory writable and executable: \(writableCode.prefix(2))")
    }

    @Test func aHeadlessDaemonAtWork() throws {
        let a = h.prepare("alpha")
        let trace = try traced(a)
        let b = try h.start("beta", listen: false)
        try h.pair(b, with: a)
        let watch = try h.startCLI(["recv", "--watch", "cat"], a)
        #expect(h.clipd(["send", "--wait", "to the traced daemon"], b).status == 0)
        #expect(h.clipd(["send", "--wait"], a, stdin: TestData.pattern(3 << 20, seed: 7)).status == 0)
        #expect(h.clipd(["recv"], a).status == 0)
        #expect(h.clipd(["config", "reload"], a).status == 0)
        #expect(h.clipd(["pause"], a).status == 0 && h.clipd(["resume"], a).status == 0)
        #expect(h.clipd(["peers", "set", "beta", "--direction", "send"], a).status == 0)
        _ = h.clipd(["doctor"], a)
        watch.process.terminate()
        try check(try finish(a, trace: trace), what: "a headless daemon")
    }

    @Test(.enabled(if: XvfbServer.isAvailable, "needs Xvfb"))
    func aDaemonOnAnXDesktop() throws {
        let x = try XvfbServer(harness: h)
        let desk = h.prepare("desk", arguments: ["--backend", "x11"])
        desk.display = x.display
        let trace = try traced(desk)
        let owner = try x.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard"], data: Array("copied on X".utf8))
        #expect(h.eventually { h.received(desk) == "copied on X" })
        owner.terminate()
        #expect(h.clipd(["send", "owned by clipd"], desk).status == 0)
        #expect(h.eventually { x.run("xclip", ["-o", "-selection", "clipboard"], harness: h).stdout == "owned by clipd" })
        try check(try finish(desk, trace: trace), what: "a daemon on X11")
    }

    @Test(.enabled(if: WaylandCompositor.isAvailable(.sway) && WaylandCompositor.clipboardToolsAvailable, "needs sway and wl-clipboard"))
    func aDaemonOnAWaylandDesktop() throws {
        let sway = try WaylandCompositor(.sway, harness: h)
        let desk = h.prepare("desk", arguments: ["--backend", "wayland"])
        desk.wayland = sway.socket
        let trace = try traced(desk)
        let copy = try sway.startCopy([], data: Array("copied on Wayland".utf8))
        #expect(h.eventually { h.received(desk) == "copied on Wayland" })
        copy.terminate()
        #expect(h.clipd(["send", "owned by clipd"], desk).status == 0)
        #expect(h.eventually { sway.paste(harness: h).stdout == "owned by clipd" })
        try check(try finish(desk, trace: trace), what: "a daemon on Wayland")
    }
}
