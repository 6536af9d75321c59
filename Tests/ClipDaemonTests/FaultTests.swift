import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults on real links between network namespaces: a peer killed mid-transfer, a long
/// partition while both sides copy, a lossy and slow link, and a crash in the middle of
/// saving state. Each must lose nothing that was complete and apply nothing that was not.
@Suite("Integration: faults between hosts", .serialized)
struct FaultTests {
    let h = DaemonHarness()

    /// Two paired daemons on two namespaces; `b` dials `a` at `dial` (default: a's address).
    func pairedAcross(_ ns: NetworkNamespaceTests.Namespaces, arguments: [String] = [], dial: ((DaemonHarness.Daemon) throws -> String)? = nil)
        throws -> (DaemonHarness.Daemon, DaemonHarness.Daemon) {
        let a = h.prepare("hostA", arguments: arguments)
        a.namespace = ns.names[0]
        try h.start(a, listenHost: ns.addressA)
        let b = h.prepare("hostB", listen: false, arguments: arguments)
        b.namespace = ns.names[1]
        try h.start(b)
        try h.pair(b, with: a, address: try dial?(a) ?? "\(ns.addressA):\(a.port!)")
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], b).stdout.contains("1 connected") })
        return (a, b)
    }

    func ip(_ arguments: [String]) {
        let result = h.run("/usr/sbin/ip", arguments)
        #expect(result.status == 0, "ip \(arguments.joined(separator: " ")): \(result.stderr)")
    }

    static func size(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }

    /// A peer killed with SIGKILL while another pastes its large item: the paste fails in
    /// one line, nothing partial is applied, and once the peer is back the two catch up.
    @Test(.enabled(if: NetworkNamespaceTests.canRun, "needs root and iproute2"))
    func aPeerKilledMidTransferLeavesNothingPartialAndCatchesUp() throws {
        let ns = try NetworkNamespaceTests.Namespaces()
        let (a, b) = try pairedAcross(ns, arguments: ["--max-size", "1GiB"])
        // 16 Mbit/s out of A, so the transfer takes seconds.
        _ = h.run("/usr/sbin/ip", ["netns", "exec", ns.names[0], "tc", "qdisc", "add", "dev", ns.vethA, "root", "tbf", "rate", "16mbit", "burst", "64kb", "latency", "500ms"])
        let big = TestData.pattern(40 << 20, seed: 11)
        #expect(h.clipd(["send", "--wait", "-t", "application/octet-stream"], a, stdin: big).status == 0)
        let paste = try h.startCLI(["recv", "-t", "application/octet-stream"], b)
        #expect(h.eventually(timeout: 30) { Self.size(paste.stdoutPath) > 1 << 20 }, "the paste never started")
        kill(a.process!.processIdentifier, SIGKILL)
        let result = h.finish(paste, timeout: 60)
        #expect(result.status == 1)
        #expect(result.stdoutBytes.count < big.count)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(h.clipd(["recv", "-t", "application/octet-stream"], b).status == 1, "a partial item was applied")
        #expect(h.clipd(["status"], b).status == 0)
        // While A is down B copies; when A is back, the session's catch-up brings it over.
        #expect(h.clipd(["send", "while A was down"], b).status == 0)
        try h.start(a, listenHost: ns.addressA)
        #expect(h.eventually(timeout: 30) { h.received(a) == "while A was down" })
        #expect(h.clipd(["send", "--wait", "and back again"], a).status == 0)
        #expect(h.received(b) == "and back again")
    }

    /// A 30 s partition while both sides copy: once it heals, both hold the later copy.
    @Test(.enabled(if: NetworkNamespaceTests.canRun, "needs root and iproute2"))
    func aLongPartitionHealsToTheLastCopy() throws {
        let ns = try NetworkNamespaceTests.Namespaces()
        let (a, b) = try pairedAcross(ns)
        #expect(h.clipd(["send", "--wait", "before"], a).status == 0)
        ip(["-n", ns.names[1], "link", "set", ns.vethB, "down"])
        let cut = Date()
        usleep(5_000_000)
        #expect(h.clipd(["send", "A during the partition"], a).status == 0)
        usleep(5_000_000)
        #expect(h.clipd(["send", "B during the partition, later"], b).status == 0)
        usleep(UInt32(max(0, 30 - Date().timeIntervalSince(cut)) * 1_000_000))
        ip(["-n", ns.names[1], "link", "set", ns.vethB, "up"])
        #expect(h.eventually(timeout: 90) {
            h.received(a) == "B during the partition, later" && h.received(b) == "B during the partition, later"
        }, "A: \(h.received(a) ?? "-"), B: \(h.received(b) ?? "-")")
    }

    /// Drops every packet on B's side of the link, both ways (`percent` of them: 100 is a
    /// path gone dead without a word, as when Wi-Fi goes) with nftables table `table`.
    func dropPackets(_ ns: NetworkNamespaceTests.Namespaces, table: String, percent: Int) {
        for (chain, hook, direction) in [("in", "input", "iifname"), ("out", "output", "oifname")] {
            let rule = percent >= 100 ? [direction, ns.vethB, "drop"] : [direction, ns.vethB, "numgen", "random", "mod", "100", "<", "\(percent)", "drop"]
            for command in [["add", "table", "inet", table],
                            ["add", "chain", "inet", table, chain, "{ type filter hook \(hook) priority 0 ; }"],
                            ["add", "rule", "inet", table, chain] + rule] {
                let result = h.run("/usr/sbin/ip", ["netns", "exec", ns.names[1], "nft"] + command)
                #expect(result.status == 0, "nft \(command.joined(separator: " ")): \(result.stderr)")
            }
        }
    }

    /// The path to the peer holding a large item goes dead without a word while it is
    /// pasted: the paste ends in one line within 60 s instead of hanging on TCP's
    /// retransmissions, and once the path is back the same paste succeeds.
    @Test(.enabled(if: NetworkNamespaceTests.canRun && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"), "needs root, iproute2 and nftables"))
    func aPasteOverAPathThatWentDeadEndsAndWorksOnceItHeals() throws {
        let ns = try NetworkNamespaceTests.Namespaces()
        let (a, b) = try pairedAcross(ns)
        let item = TestData.pattern(4 << 20, seed: 9)
        #expect(h.clipd(["send", "--wait", "-t", "application/octet-stream"], a, stdin: item).status == 0)
        dropPackets(ns, table: "clipddead", percent: 100)
        let started = Date()
        let paste = h.clipd(["recv", "-t", "application/octet-stream"], b, timeout: 75)
        let took = Date().timeIntervalSince(started)
        #expect(paste.status == 1 && !paste.timedOut, "\(paste.stderr)")
        #expect(took < 60, "the paste took \(Int(took)) s to end")
        #expect(paste.stderr.split(separator: "\n").count == 1 && paste.stderr.contains("hostA"), "\(paste.stderr)")
        ip(["netns", "exec", ns.names[1], "nft", "delete", "table", "inet", "clipddead"])
        #expect(h.eventually(timeout: 60) { h.clipd(["status"], b, timeout: 10).stdout.contains("1 connected") }, "the session did not come back")
        let again = h.clipd(["recv", "-t", "application/octet-stream"], b)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(byteDifference(again.stdoutBytes, item) == nil)
    }

    /// The side sending a large item sees when its peer stops taking bytes (a VM paused
    /// mid-paste): `clipd status` and `clipd doctor` say the transfer is stalled and by whom,
    /// and the paste ends, one way or the other, once the peer runs again.
    @Test(.enabled(if: NetworkNamespaceTests.canRun, "needs root and iproute2"))
    func aPeerThatStopsTakingBytesShowsAsAStalledTransferWhereTheyComeFrom() throws {
        let ns = try NetworkNamespaceTests.Namespaces()
        let (a, b) = try pairedAcross(ns, arguments: ["--max-size", "1GiB"])
        // A slow link out of A (4 MB/s), and an item far larger than what the buffers on the
        // way (A's socket and NIO's, B's socket, the qdisc: about 15 MiB) take in while B
        // is stopped, so the transfer cannot finish behind the test's back.
        ip(["netns", "exec", ns.names[0], "tc", "qdisc", "add", "dev", ns.vethA, "root", "tbf", "rate", "32mbit", "burst", "256kb", "latency", "500ms"])
        let big = TestData.pattern(48 << 20, seed: 12)
        #expect(h.clipd(["send", "--wait", "-t", "application/octet-stream"], a, stdin: big).status == 0)
        let paste = try h.startCLI(["recv", "-t", "application/octet-stream"], b)
        #expect(h.eventually(timeout: 30) { Self.size(paste.stdoutPath) > 1 << 20 }, "the paste never started")
        b.process?.signal(SIGSTOP)
        defer { b.process?.signal(SIGCONT) }
        var status = ""
        #expect(h.eventually(timeout: 30) {
            status = h.clipd(["status"], a, timeout: 10).stdout
            return status.contains("sending to hostB") && status.contains("stalled: hostB has taken nothing for")
        }, "\(status)")
        let doctor = h.clipd(["doctor"], a, timeout: 10).stdout
        #expect(doctor.split(separator: "\n").contains { $0.hasPrefix("problem") && $0.contains("item transfer to hostB stalled") }, "\(doctor)")
        b.process?.signal(SIGCONT)
        let result = h.finish(paste, timeout: 90)
        #expect(!result.timedOut)
        if result.status == 0 { #expect(byteDifference(result.stdoutBytes, big) == nil) }
        #expect(h.clipd(["status"], a).stdout.contains("stalled") == false || h.eventually(timeout: 40) { !h.clipd(["status"], a).stdout.contains("stalled") })
    }

    /// 20% of packets lost both ways and 200 ms each way (this kernel has no netem: nftables
    /// drops the packets, a relay holds the bytes): copies still get through, whole.
    @Test(.enabled(if: NetworkNamespaceTests.canRun && FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"), "needs root, iproute2 and nftables"))
    func aLossySlowLinkStillDeliversEveryCopyWhole() throws {
        let ns = try NetworkNamespaceTests.Namespaces()
        let relayPort = DaemonHarness.freePort()
        var a: DaemonHarness.Daemon?
        let (hostA, b) = try pairedAcross(ns) { daemon in
            a = daemon
            let log = h.root + "/relay.log"
            let relay = try h.spawn("/usr/sbin/ip", ["netns", "exec", ns.names[0], "python3", VectorFile.packageRoot.appendingPathComponent("Tests/Fixtures/net/delay-relay.py").path,
                                                     ns.addressA, "\(relayPort)", ns.addressA, "\(daemon.port!)", "0.2"], log: log)
            guard h.eventually(timeout: 20, { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ready") }) else {
                throw HarnessError("the delay relay did not start: \(relay.isRunning ? "no ready line" : "it exited")")
            }
            return "\(ns.addressA):\(relayPort)"
        }
        #expect(a === hostA)
        #expect(h.eventually(timeout: 30) { h.clipd(["status"], b).stdout.contains("1 connected") })
        dropPackets(ns, table: "clipdloss", percent: 20)
        // A session the loss breaks is dialled again, and its catch-up brings the copy.
        #expect(h.clipd(["send", "--wait", "--timeout", "90", "through loss and delay"], b, timeout: 120).status == 0)
        #expect(h.eventually(timeout: 90) { h.received(hostA) == "through loss and delay" })
        let item = TestData.pattern(1 << 20, seed: 5)
        #expect(h.clipd(["send", "--wait", "--timeout", "120", "-t", "application/octet-stream"], hostA, stdin: item, timeout: 150).status == 0)
        var pasted = h.clipd(["recv", "-t", "application/octet-stream"], b)
        #expect(h.eventually(timeout: 120) {
            pasted = h.clipd(["recv", "-t", "application/octet-stream"], b)
            return pasted.status == 0 && byteDifference(pasted.stdoutBytes, item) == nil
        }, "\(pasted.stderr)")
        let counters = h.run("/usr/sbin/ip", ["netns", "exec", ns.names[1], "nft", "list", "table", "inet", "clipdloss"]).stdout
        #expect(counters.contains("drop"), "\(counters)")
    }

    /// A daemon killed between writing a state file and renaming it over the old one (strace
    /// turns the rename into SIGKILL): the old file is intact, and the next start removes the
    /// half-written one and carries on.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), "needs strace"))
    func aCrashBetweenWritingAndRenamingLeavesTheOldFileIntact() throws {
        let raw = TrustedRawPeer()
        let daemon = h.prepare("crashing")
        raw.trust(in: daemon)
        try h.start(daemon)  // its identity is made and saved on this first start
        h.stop(daemon)
        let peersFile = daemon.home + "/peers.toml"
        let before = try String(contentsOfFile: peersFile, encoding: .utf8)
        daemon.launcher = ["/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
                           "-e", "inject=rename,renameat,renameat2:error=EIO:signal=KILL"]
        try h.start(daemon)
        #expect(h.clipd(["unpair", "raw"], daemon).status != 0, "the daemon answered instead of dying")
        #expect(h.eventually { !(daemon.process?.isRunning ?? false) })
        #expect(try String(contentsOfFile: peersFile, encoding: .utf8) == before, "the old file was not left intact")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: daemon.home).filter { $0.contains(".tmp-") }
        #expect(!leftovers.isEmpty, "no half-written file: the crash was not between write and rename")
        daemon.launcher = []
        try h.start(daemon)
        #expect(h.clipd(["peers"], daemon).stdout.contains("raw"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: daemon.home).filter { $0.contains(".tmp-") }.isEmpty)
        #expect(h.logText(daemon).contains("removed a file a crash left half-written"))
    }
}

extension NetworkNamespaceTests.Namespaces {
    /// The veth ends in the first and second namespace.
    var vethA: String { "va" + names[0].dropFirst(6) }
    var vethB: String { "vb" + names[1].dropFirst(6) }
}
