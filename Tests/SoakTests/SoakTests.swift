import ClipDaemon
import ClipTestSupport
import Foundation
import Testing

/// `make soak` (not in the default run): three daemons paired in a triangle take ten
/// thousand copies of random sizes from every side, interleaved, after a warm-up that fills
/// their bounded caches. At the end every daemon holds the same item, each daemon's resident
/// memory is back within 10% of what it was once warm, and no descriptor leaked.
@Suite("Soak: three daemons, ten thousand copies", .serialized, .enabled(if: ProcessInfo.processInfo.environment["CLIPD_SOAK"] != nil, "make soak runs it"))
struct SoakTests {
    let h = DaemonHarness()


    /// One copy through the control socket (a process per copy would take hours).
    func copy(_ bytes: [UInt8], at daemon: DaemonHarness.Daemon) throws {
        let client = try ControlClient(socketPath: daemon.controlSocket)
        var request = ControlRequest(op: .send)
        request.mimeType = "application/octet-stream"
        try client.send(request, payload: bytes)
        let (response, _) = try client.receive()
        guard response.ok else { throw HarnessError("copy refused: \(response.error ?? "")") }
    }

    func held(_ daemon: DaemonHarness.Daemon) -> [UInt8]? {
        let result = h.clipd(["recv", "-t", "application/octet-stream"], daemon)
        return result.status == 0 ? result.stdoutBytes : nil
    }

    @Test func tenThousandCopiesFromEverySide() throws {
        let copies = Int(ProcessInfo.processInfo.environment["CLIPD_SOAK_COPIES"] ?? "") ?? 10_000
        // CLIPD_SOAK_DAEMON_ENV="K=V K=V" runs every daemon with that environment (allocator
        // settings, to compare them).
        let extra = (ProcessInfo.processInfo.environment["CLIPD_SOAK_DAEMON_ENV"] ?? "").split(separator: " ").compactMap { pair -> (String, String)? in
            let parts = pair.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
        func prepared(_ name: String, listen: Bool = true) -> DaemonHarness.Daemon {
            let daemon = h.prepare(name, listen: listen)
            for (key, value) in extra { daemon.environment[key] = value }
            return daemon
        }
        let a = prepared("soak-a")
        // CLIPD_SOAK_HEAPTRACK=FILE runs the first daemon under heaptrack, to find what grows.
        if let profile = ProcessInfo.processInfo.environment["CLIPD_SOAK_HEAPTRACK"] { a.launcher = ["/usr/bin/heaptrack", "-o", profile] }
        try h.start(a)
        let b = prepared("soak-b"), c = prepared("soak-c", listen: false)
        try h.start(b)
        try h.start(c)
        try h.pair(b, with: a)
        try h.pair(c, with: a)
        try h.pair(c, with: b)
        let daemons = [a, b, c]
        #expect(h.eventually(timeout: 30) { daemons.allSatisfy { h.clipd(["status"], $0).stdout.contains("2 connected") } })
        var random = TestRandom(state: 0x50a4_50a4_50a4_50a4)
        func randomItem(_ n: Int) -> [UInt8] {
            // Mostly small, some over the inline and lazy thresholds, a few of a megabyte.
            let size = [random.below(200), random.below(4000), random.below(100_000), random.below(400_000), random.below(1 << 20)][random.below(5) == 4 ? 4 : random.below(4)]
            return Array("copy \(n) ".utf8) + (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        // Warm up until the bounded caches (the 32 MiB chunk cache, each selection's delta
        // base) are full, then take the baseline: growth after that would be a leak.
        let warmup = Int(ProcessInfo.processInfo.environment["CLIPD_SOAK_WARMUP"] ?? "") ?? 1500
        for n in 0..<warmup { try copy(randomItem(n), at: daemons[n % 3]) }
        usleep(2_000_000)
        let baseline = daemons.map { ($0.memoryKiB("VmRSS") ?? 0, $0.openDescriptors ?? 0) }
        for n in warmup..<(warmup + copies) {
            try copy(randomItem(n), at: daemons[random.below(3)])
            if n % 1000 == 0 { print("soak: \(n) copies, RSS \(daemons.map { "\(($0.memoryKiB("VmRSS") ?? 0) >> 10)" }.joined(separator: "/")) MiB") }
        }
        // The last word, from one side: everyone must end on it.
        let last = randomItem(warmup + copies) + [UInt8](repeating: 0x4c, count: 300_000)
        try copy(last, at: b)
        #expect(h.eventually(timeout: 60) { daemons.allSatisfy { held($0) == last } }, "the daemons did not settle on the last copy")
        usleep(3_000_000)
        for (daemon, (rss, descriptors)) in zip(daemons, baseline) {
            let now = daemon.memoryKiB("VmRSS") ?? 0, open = daemon.openDescriptors ?? 0
            print("soak: \(daemon.name) RSS \(rss >> 10) MiB -> \(now >> 10) MiB, descriptors \(descriptors) -> \(open)")
            #expect(Double(now) <= Double(rss) * 1.1, "\(daemon.name) grew from \(rss) KiB to \(now) KiB")
            #expect(open <= descriptors, "\(daemon.name) has \(open - descriptors) more descriptors open")
        }
    }
}
