import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the test harness promises about the processes it starts: they can always be ended
/// (signals unblocked even when the starting thread blocks them), ending one ends what it
/// started, they inherit no descriptor of the test's, and a command that runs past its
/// time limit is killed and fails the test instead of blocking it.
@Suite("Test harness: processes that can always be ended")
struct ChildProcessTests {
    let h = DaemonHarness()

    /// The signal mask a process runs with, from /proc.
    static func blockedSignals(_ pid: pid_t) -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }) else { return nil }
        return UInt64(line.split(separator: "\t").last ?? "", radix: 16)
    }

    @Test func aChildOfAThreadThatBlocksSIGTERMStillEndsOnIt() throws {
        var all = sigset_t(), old = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let child = try ChildProcess("/bin/sleep", ["30"])
        defer { child.stop(grace: 1) }
        #expect(h.eventually(timeout: 5) { Self.blockedSignals(child.processIdentifier) == 0 }, "the child inherited a blocked mask")
        child.terminate()
        #expect(child.wait(timeout: 5), "SIGTERM did not end it")
        #expect(child.terminationSignal == SIGTERM)
    }

    @Test func endingAProcessEndsWhatItStarted() throws {
        let marker = h.root + "/grandchild.pid"
        let child = try ChildProcess("/bin/sh", ["-c", "sleep 60 & echo $! > \(marker); wait"])
        #expect(h.eventually(timeout: 5) { FileManager.default.fileExists(atPath: marker) })
        let text = try String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let grandchild = try #require(pid_t(text))
        child.stop(grace: 2)
        #expect(h.eventually(timeout: 5) { kill(grandchild, 0) != 0 }, "the background sleep outlived its parent")
    }

    @Test func noDescriptorOfTheTestIsInherited() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)  // not close-on-exec, as many are
        defer { close(ends[0]); close(ends[1]) }
        let result = h.run("/bin/ls", ["/proc/self/fd"])
        let descriptors = Set(result.stdout.split(separator: "\n").compactMap { Int32($0) })
        #expect(descriptors.isSubset(of: [0, 1, 2, 3]), "inherited: \(descriptors.sorted())")  // 3: ls's own directory
        #expect(!descriptors.contains(ends[0]) || ends[0] <= 3)
    }

    @Test func aCommandPastItsLimitIsKilledAndFailsTheTest() {
        let started = Date()
        var result: DaemonHarness.Result?
        withKnownIssue("the harness records a command it had to kill") {
            result = h.run("/bin/sh", ["-c", "echo before; sleep 60"], timeout: 1)
        }
        #expect(result?.timedOut == true)
        #expect(result?.status == -1)
        #expect(result?.stdout == "before\n", "what it printed comes with the failure")
        #expect(Date().timeIntervalSince(started) < 10)
    }
}
