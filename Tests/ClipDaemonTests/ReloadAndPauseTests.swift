import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Changing a running daemon: reloads (SIGHUP, `clipd config reload`), pause and resume,
/// a peer's direction. Nothing here may drop a session.
@Suite("Integration: reload, pause, per-peer direction", .serialized)
struct ReloadAndPauseTests {
    let h = DaemonHarness()

    func sessionsEstablished(_ daemon: DaemonHarness.Daemon) -> Int {
        h.logText(daemon).components(separatedBy: "session established").count - 1
    }

    @Test func sighupAppliesTheFileWithoutDroppingTheSession() throws {
        let port = DaemonHarness.freePort()
        let a = try h.start("alpha")
        let b = try h.start("beta", listen: false)
        try h.pair(b, with: a)
        #expect(h.clipd(["send", "--wait", "before"], b).status == 0)
        let sessions = sessionsEstablished(a)
        #expect(FileManager.default.fileExists(atPath: a.home + "/clipd.toml"), "the default file was not written on first run")

        try "max_size = \"1KiB\"\nlisten = [\"127.0.0.1:\(port)\"]\nlog_level = \"debug\"\n".write(toFile: a.home + "/clipd.toml", atomically: true, encoding: .utf8)
        kill(a.process!.processIdentifier, SIGHUP)
        #expect(h.eventually { h.logText(a).contains("reloaded \(a.home)/clipd.toml: applied max_size, log_level") }, "log: \(h.logText(a))")
        // --listen on the command line wins over the file's listen, at reloads too.
        #expect(!h.clipd(["status"], a).stdout.contains("\(port)"))
        let refused = h.clipd(["send", "--wait"], b, stdin: [UInt8](repeating: 7, count: 2048))
        #expect(refused.status == 1 && refused.stderr.contains("over its maximum size"), "\(refused.stderr)")
        #expect(h.clipd(["send", "--wait", "small"], b).status == 0)
        #expect(h.received(a) == "small")
        #expect(sessionsEstablished(a) == sessions, "the reload dropped the session")
        #expect(a.process!.isRunning)
    }

    @Test func listenersComeAndGoAndABadFileChangesNothing() throws {
        let a = try h.start("alpha", listen: false)
        let first = DaemonHarness.freePort(), second = DaemonHarness.freePort()
        let config = a.home + "/clipd.toml"
        try "listen = [\"127.0.0.1:\(first)\"]\n".write(toFile: config, atomically: true, encoding: .utf8)
        let reloaded = h.clipd(["config", "reload"], a)
        #expect(reloaded.status == 0 && reloaded.stdout.contains("applied listen") && reloaded.stdout.contains("listening on 127.0.0.1:\(first)"), "\(reloaded)")
        #expect(h.clipd(["status"], a).stdout.contains("listening: 127.0.0.1:\(first)"))

        try "listen = [\"127.0.0.1:\(second)\"]\nselections = [\"clipboard\", \"primary\"]\nbackend = \"x11\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let moved = h.clipd(["config", "reload"], a).stdout
        #expect(moved.contains("stopped listening on 127.0.0.1:\(first)") && moved.contains("listening on 127.0.0.1:\(second)"), "\(moved)")
        #expect(moved.contains("selections: takes effect when clipd restarts"), "\(moved)")
        #expect(moved.contains("backend: set on clipd run's command line, which wins over the file"), "\(moved)")
        #expect(h.clipd(["status"], a).stdout.contains("backend: memory; selections: clipboard\n"), "changed without a restart")

        // A peer pairs through the new listener: it really accepts.
        let b = try h.start("beta", listen: false)
        try h.pair(b, with: a, address: "127.0.0.1:\(second)")
        #expect(h.clipd(["send", "--wait", "through the new port"], b).status == 0)

        try "listen = [\n".write(toFile: config, atomically: true, encoding: .utf8)
        let bad = h.clipd(["config", "reload"], a)
        #expect(bad.status == 1 && bad.stderr.hasPrefix("clipd: not reloaded, still running with the previous settings: invalid config \(config):"))
        #expect(bad.stderr.filter { $0 == "\n" }.count == 1)
        #expect(h.clipd(["status"], a).stdout.contains("listening: 127.0.0.1:\(second)"))
        #expect(h.clipd(["send", "--wait", "still synced"], b).status == 0)
    }

    /// A daemon whose listener cannot be bound (its links start last) says so in one line,
    /// and the pieces that started before stop again: the control socket is gone, and no
    /// default configuration or last-contact file is left behind.
    @Test func aStartThatFailsAtItsLinksStopsWhatStartedAndLeavesNothingBehind() throws {
        let holder = try h.start("holder")
        let home = h.root + "/late"
        mkdir(home, 0o700)
        let run = h.run(DaemonHarness.binary, ["run", "--home", home, "--backend", "memory", "--listen", holder.address], timeout: 30)
        #expect(run.status == 1 && run.stderr.hasPrefix("clipd: cannot listen on \(holder.address)") && run.stderr.filter { $0 == "\n" }.count == 1, "\(run)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: home)) ?? []
        #expect(left == ["identity.toml"], "\(left)")
    }

    @Test func anAddressInUseIsTriedAgainAtTheNextReload() throws {
        let a = try h.start("alpha", listen: false)
        let holder = try h.start("holder")
        try "listen = [\"\(holder.address)\"]\n".write(toFile: a.home + "/clipd.toml", atomically: true, encoding: .utf8)
        let taken = h.clipd(["config", "reload"], a)
        #expect(taken.status == 0 && taken.stdout.contains("cannot listen on \(holder.address)"), "\(taken)")
        #expect(h.clipd(["status"], a).stdout.contains("listening: no"))
        h.stop(holder)
        let free = h.clipd(["config", "reload"], a)
        #expect(free.stdout.contains("listening on \(holder.address)"), "\(free)")
        #expect(h.clipd(["status"], a).stdout.contains("listening: \(holder.address)"))
    }

    @Test func configCheckSaysWhatIsWrongInOneLine() throws {
        let home = h.root + "/checked"
        mkdir(home, 0o700)
        let fresh = h.run(DaemonHarness.binary, ["config", "check", "--home", home])
        #expect(fresh.status == 0 && fresh.stdout.contains("not there, the defaults apply") && fresh.stdout.contains("max_size = \"64MiB\""))
        try "max_size = \"2KiB\"\nselections = [\"clipboard\", \"primary\"]\n".write(toFile: home + "/clipd.toml", atomically: true, encoding: .utf8)
        let good = h.run(DaemonHarness.binary, ["config", "check", "--home", home])
        #expect(good.status == 0 && good.stdout.contains("max_size = \"2KiB\"") && good.stdout.contains("selections = [\"clipboard\", \"primary\"]"), "\(good)")
        try "backend = \"gnome\"\n".write(toFile: home + "/clipd.toml", atomically: true, encoding: .utf8)
        let bad = h.run(DaemonHarness.binary, ["config", "check", "--home", home])
        #expect(bad.status == 1 && bad.stderr == "clipd: invalid config \(home)/clipd.toml: backend must be auto, memory, x11 or wayland\n")
        try "".write(toFile: home + "/clipd.toml", atomically: true, encoding: .utf8)
        try "[[peer]]\nname = \"x\"\n".write(toFile: home + "/peers.toml", atomically: true, encoding: .utf8)
        chmod(home + "/peers.toml", 0o600)
        let peers = h.run(DaemonHarness.binary, ["config", "check", "--home", home])
        #expect(peers.status == 1 && peers.stderr.contains("peers.toml: peer 1 lacks a valid public_key or psk"), "\(peers)")
        let shown = h.run(DaemonHarness.binary, ["config", "default"])
        #expect(shown.status == 0 && shown.stdout.hasPrefix("# clipd configuration."))
    }

    /// Files that made the old parser (toml++ through TOMLKit) abort the process (SIGABRT,
    /// exit 134): refused in one line by `config check` and `run` (exit 2, as every config
    /// error), and a running daemon asked to reload one keeps running with its settings.
    @Test func filesThatAbortedTheOldParserAreRefusedInOneLineEverywhere() throws {
        let inputs = [#"a = ["""x"""", [}]"#, "a = ['''x'''', [}]", #"a = 1979-05-27T"07:32:00Z"#]
        let a = try h.start("alpha")
        let config = a.home + "/clipd.toml"
        for (index, input) in inputs.enumerated() {
            try (input + "\n").write(toFile: config, atomically: true, encoding: .utf8)
            let check = h.run(DaemonHarness.binary, ["config", "check", "--home", a.home])
            #expect(check.status == 1 && check.stderr.hasPrefix("clipd: invalid config \(config): ") && check.stderr.contains(" at line 1, column "), "\(check)")
            #expect(check.stderr.filter { $0 == "\n" }.count == 1, "\(check)")

            let home = h.root + "/run-\(index)"
            mkdir(home, 0o700)
            try (input + "\n").write(toFile: home + "/clipd.toml", atomically: true, encoding: .utf8)
            let run = h.run(DaemonHarness.binary, ["run", "--home", home, "--backend", "memory"], timeout: 30)
            #expect(run.status == 2 && run.stderr.contains("invalid config \(home)/clipd.toml: ") && run.stderr.contains(" at line 1, column "), "\(run)")

            let reload = h.clipd(["config", "reload"], a)
            #expect(reload.status == 1 && reload.stderr.hasPrefix("clipd: not reloaded, still running with the previous settings: invalid config \(config): "), "\(reload)")
            let alive = h.clipd(["status"], a).status == 0
            #expect(alive, "the daemon died on reload")
            AttackReport.record("TOML that aborted toml++: \(input.debugDescription)",
                                "config check exit \(check.status), run exit \(run.status), reload exit \(reload.status), daemon alive: \(alive)",
                                held: check.status == 1 && run.status == 2 && reload.status == 1 && alive)
        }
        #expect(h.clipd(["send", "still here"], a).status == 0)
        #expect(h.clipd(["recv"], a).stdout == "still here")
    }

    @Test func pauseKeepsEverythingLocalUntilResumeAndSurvivesARestart() throws {
        let (a, b) = try h.startPairedDaemons()
        #expect(h.clipd(["send", "--wait", "shared"], b).status == 0)
        #expect(h.clipd(["pause"], a).status == 0)
        #expect(h.clipd(["status"], a).stdout.contains("sync: paused"))
        let refused = h.clipd(["send", "--wait", "while paused"], b)
        #expect(refused.status == 1 && refused.stderr.contains("alpha refused the item"), "\(refused.stderr)")
        #expect(h.received(a) == "shared", "a paused daemon applied a peer's item")
        let send = h.clipd(["send", "local"], a)
        #expect(send.status == 1 && send.stderr == "clipd: sync is paused: run `clipd resume` first (nothing was copied)\n")

        h.stop(a)
        try h.start(a)
        #expect(h.clipd(["status"], a).stdout.contains("sync: paused"), "a restart resumed sync")
        #expect(h.eventually { h.clipd(["status"], a).stdout.contains("1 connected") })
        #expect(h.clipd(["send", "--wait", "still paused"], b).status == 1)

        #expect(h.clipd(["resume"], a).stdout == "sync resumed: the next copy on any machine is synced\n")
        #expect(h.clipd(["send", "--wait", "after resume"], b).status == 0)
        #expect(h.received(a) == "after resume")
        #expect(h.clipd(["send", "--wait", "and back"], a).status == 0)
        #expect(h.received(b) == "and back")
    }

    @Test func aPeersDirectionChangesFromTheCommandLineAndIsKept() throws {
        let (a, b) = try h.startPairedDaemons()
        let set = h.clipd(["peers", "set", "beta", "--direction", "receive"], a)
        #expect(set.status == 0 && set.stdout.hasPrefix("beta: receive only"), "\(set)")
        #expect(h.clipd(["send", "--wait", "kept here"], a).status == 0, "no recipients: nothing to wait for")
        usleep(300_000)
        #expect(h.received(b) == nil, "an item went to a receive-only peer")
        #expect(h.clipd(["send", "--wait", "from beta"], b).status == 0)
        #expect(h.received(a) == "from beta")
        #expect(((try? String(contentsOfFile: a.home + "/peers.toml", encoding: .utf8)) ?? "").contains("direction = \"receive\""))
        #expect(h.clipd(["peers"], a).stdout.contains("direction receive"))

        // Back to both ways: what alpha holds now goes to beta at once.
        #expect(h.clipd(["send", "alpha's own"], a).status == 0)
        usleep(200_000)
        #expect(h.received(b) == "from beta")
        #expect(h.clipd(["peers", "set", "beta", "--direction", "both"], a).status == 0)
        #expect(h.eventually { h.received(b) == "alpha's own" })

        let bad = h.clipd(["peers", "set", "beta", "--direction", "sideways"], a)
        #expect(bad.status == 1 && bad.stderr == "clipd: direction must be one of both, send, receive, off\n")
        let unknown = h.clipd(["peers", "set", "gamma", "--direction", "off"], a)
        #expect(unknown.status == 1 && unknown.stderr.contains("no paired peer named 'gamma'"))
    }

    @Test func peersTomlEditedByHandIsAppliedAtReload() throws {
        let (a, b) = try h.startPairedDaemons()
        let path = a.home + "/peers.toml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try PrivateFilesWriter.write(path, text + "direction = \"off\"\n")
        let reloaded = h.clipd(["config", "reload"], a)
        #expect(reloaded.status == 0 && reloaded.stdout.contains("peer beta: settings applied (off"), "\(reloaded)")
        let refused = h.clipd(["send", "--wait", "nothing goes"], b)
        #expect(refused.status == 1 && refused.stderr.contains("refused"))
        #expect(h.received(a) == nil)
        #expect(h.clipd(["status"], a).stdout.contains("1 connected"), "the session must stay")
    }
}

/// Writes a state file as a person's editor would, keeping it private.
enum PrivateFilesWriter {
    static func write(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
    }
}
