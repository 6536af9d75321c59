import ClipTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two daemons on two "hosts": network namespaces joined by a veth pair, so traffic crosses
/// the kernel's real IP stack between interfaces. Needs root (CI runs as root); elsewhere
/// the test records why it did not run.
@Suite("Integration: daemons in network namespaces", .serialized)
struct NetworkNamespaceTests {
    static let canRun: Bool = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")

    final class Namespaces {
        /// Suites run side by side in one process (this one and FaultTests): each pair of
        /// namespaces gets its own number, so their names never meet.
        private static let made = Atomic<Int>(0)
        let names: [String]
        init() throws {
            let serial = Self.made.add(1, ordering: .relaxed).newValue
            let tag = "\(getpid() % 100_000)\(serial)"
            names = ["clipdA\(tag)", "clipdB\(tag)"]
            let (a, b) = (names[0], names[1])
            let octet = 1 + Int(getpid() + Int32(serial) * 37) % 200
            // Left by a run that was killed, if its process had this number too.
            for n in names { _ = DaemonHarness().run("/usr/sbin/ip", ["netns", "delete", n]) }
            _ = DaemonHarness().run("/usr/sbin/ip", ["link", "delete", "va\(tag)"])
            for command in [
                ["netns", "add", a], ["netns", "add", b],
                ["link", "add", "va\(tag)", "type", "veth", "peer", "name", "vb\(tag)"],
                ["link", "set", "va\(tag)", "netns", a], ["link", "set", "vb\(tag)", "netns", b],
                ["-n", a, "addr", "add", "10.250.\(octet).1/24", "dev", "va\(tag)"],
                ["-n", b, "addr", "add", "10.250.\(octet).2/24", "dev", "vb\(tag)"],
                ["-n", a, "link", "set", "va\(tag)", "up"], ["-n", b, "link", "set", "vb\(tag)", "up"],
                ["-n", a, "link", "set", "lo", "up"], ["-n", b, "link", "set", "lo", "up"],
            ] {
                let result = DaemonHarness().run("/usr/sbin/ip", command)
                guard result.status == 0 else { throw HarnessError("ip \(command.joined(separator: " ")) failed: \(result.stderr)") }
            }
            addressA = "10.250.\(octet).1"
            addressB = "10.250.\(octet).2"
        }
        var addressA = ""
        var addressB = ""
        deinit { for n in names { _ = DaemonHarness().run("/usr/sbin/ip", ["netns", "delete", n]) } }
    }

    /// This suite and FaultTests run side by side in one process: their namespaces were
    /// named after the process alone, so one suite's creation failed ("File exists") when
    /// the other's pair was alive (seen in CI).
    @Test(.enabled(if: canRun, "needs root and iproute2 to create network namespaces"))
    func twoPairsOfNamespacesLiveSideBySide() throws {
        let first = try Namespaces(), second = try Namespaces()
        #expect(Set(first.names).isDisjoint(with: second.names))
    }

    @Test(.enabled(if: canRun, "needs root and iproute2 to create network namespaces"))
    func pairAndSyncAcrossNamespaces() throws {
        let ns = try Namespaces()
        let h = DaemonHarness()
        let a = h.prepare("hostA")
        a.namespace = ns.names[0]
        try h.start(a, listenHost: ns.addressA)
        let b = h.prepare("hostB", listen: false)
        b.namespace = ns.names[1]
        try h.start(b)
        // The CLI reaches each daemon through its unix socket; the daemons talk over veth.
        try h.pair(b, with: a, address: "\(ns.addressA):\(a.port!)")
        #expect(h.clipd(["send", "--wait", "across hosts"], b).status == 0)
        #expect(h.received(a) == "across hosts")
        #expect(h.clipd(["send", "--wait", "and back"], a).status == 0)
        #expect(h.received(b) == "and back")
        // Cut the link: the session ends; restore it: the dialler reconnects.
        _ = h.run("/usr/sbin/ip", ["-n", ns.names[1], "link", "set", "vb\(ns.names[1].dropFirst(6))", "down"])
        _ = h.run("/usr/sbin/ip", ["-n", ns.names[1], "link", "set", "vb\(ns.names[1].dropFirst(6))", "up"])
        h.stop(a)
        try h.start(a, listenHost: ns.addressA)
        #expect(h.eventually { h.clipd(["status"], a).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "after reconnect"], b).status == 0)
        #expect(h.received(a) == "after reconnect")
    }
}
