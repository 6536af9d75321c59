import ClipTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Several real daemons on loopback, driven through the real CLI.
@Suite("Integration: daemons on loopback", .serialized)
struct LoopbackIntegrationTests {
    @Test func pairAndSyncBothWaysOnLoopback() throws {
        let h = DaemonHarness()
        let (a, b) = try h.startPairedDaemons()
        #expect(h.clipd(["send", "héllo", "wörld", "✂"], a).status == 0)
        #expect(h.eventually { h.received(b) == "héllo wörld ✂" }, "TEXT arguments are joined by spaces")
        #expect(h.clipd(["recv", "-l"], b).stdout == "text/plain;charset=utf-8\n")
        #expect(h.clipd(["send"], b, stdin: Array("from beta via stdin\n".utf8)).status == 0)
        #expect(h.eventually { h.received(a) == "from beta via stdin\n" })
        let binary: [UInt8] = [0, 255, 1, 254, 0x80, 0x81]
        #expect(h.clipd(["send"], a, stdin: binary).status == 0)
        #expect(h.eventually { h.clipd(["recv", "-l"], b).stdout == "application/octet-stream\n" })
        #expect(h.clipd(["recv"], b).stdoutBytes == binary)
        let peers = h.clipd(["peers"], a).stdout
        #expect(peers.contains("beta") && peers.contains("connected"))
    }

    @Test func largeItemIsFetchedAndIdentical() throws {
        let h = DaemonHarness()
        let (a, b) = try h.startPairedDaemons()
        let big = (0..<(5 * 1024 * 1024 + 3)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 7) }
        #expect(h.clipd(["send", "--wait", "-t", "application/x-test"], a, stdin: big).status == 0)
        let got = h.clipd(["recv", "-t", "application/x-test"], b)
        #expect(got.status == 0)
        #expect(byteDifference(got.stdoutBytes, big) == nil)
    }

    @Test func relayThroughAMiddlePeer() throws {
        let h = DaemonHarness()
        let middle = try h.start("middle")
        let left = try h.start("left", listen: false)
        let right = try h.start("right", listen: false)
        try h.pair(left, with: middle)
        try h.pair(right, with: middle)
        #expect(h.clipd(["send", "across the middle"], left).status == 0)
        #expect(h.eventually { h.received(right) == "across the middle" })
        #expect(h.clipd(["send", "and back"], right).status == 0)
        #expect(h.eventually { h.received(left) == "and back" })
    }

    @Test func reconnectsAndCatchesUpAfterAPeerRestarts() throws {
        let h = DaemonHarness()
        let (a, b) = try h.startPairedDaemons()
        #expect(h.clipd(["send", "before"], b).status == 0)
        #expect(h.eventually { h.received(a) == "before" })
        h.stop(a)
        #expect(h.clipd(["send", "while alpha was down"], b).status == 0)
        try h.start(a)
        // The memory clipboard starts empty; beta redials and catches alpha up.
        #expect(h.eventually { h.received(a) == "while alpha was down" })
        #expect(h.clipd(["send", "after restart"], a).status == 0)
        #expect(h.eventually { h.received(b) == "after restart" })
    }

    @Test func wrongCodeFailsOnBothSidesAndStoresNothing() throws {
        let h = DaemonHarness()
        let a = try h.start("alpha")
        let b = try h.start("beta", listen: false)
        let (code, window) = try h.openWindow(a)
        var words = code.split(separator: "-").map(String.init)
        words[3] = words[3] == "yucatan" ? "adroitness" : "yucatan"
        let join = h.clipd(["pair", words.joined(separator: "-"), a.address], b)
        window.waitUntilExit()
        #expect(join.status != 0)
        #expect(join.stderr == "clipd: pairing failed: the code did not match\n")
        #expect(window.terminationStatus != 0)
        #expect(h.clipd(["peers"], a).stdout.isEmpty)
        #expect(h.clipd(["peers"], b).stdout.isEmpty)
        // The code was burned by the wrong attempt: the right one no longer works.
        let retry = h.clipd(["pair", code, a.address], b)
        #expect(retry.status != 0)
        #expect(retry.stderr.contains("no pairing window"))
    }

    @Test func sendWaitReportsEveryPeer() throws {
        let h = DaemonHarness()
        let a = try h.start("alpha")
        let b = try h.start("beta", listen: false)
        let small = try h.start("small", listen: false, arguments: ["--max-size", "1K"])
        try h.pair(b, with: a)
        #expect(h.eventually { h.clipd(["status"], a).stdout.contains("1 connected") })
        let ok = h.clipd(["send", "--wait", "acknowledged"], a)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(h.received(b) == "acknowledged", "with --wait the peer holds the item when send returns")
        try h.pair(small, with: a)
        #expect(h.eventually { h.clipd(["status"], a).stdout.contains("2 connected") })
        let refused = h.clipd(["send", "--wait"], a, stdin: [UInt8](repeating: 0x41, count: 4096))
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("small refused the item: over its maximum size"))
        let none = try h.start("loner", listen: false)
        let alone = h.clipd(["send", "--wait", "x"], none)
        #expect(alone.status == 0 && alone.stderr.contains("no peers connected"))
    }

    @Test func clearErrorsForPeopleAndScripts() throws {
        let h = DaemonHarness()
        let ghost = h.prepare("ghost")
        let noDaemon = h.clipd(["status"], ghost)
        #expect(noDaemon.status == 1)
        #expect(noDaemon.stderr.hasPrefix("clipd: no clipd daemon is running") && noDaemon.stderr.contains("clipd run"))
        let a = try h.start("alpha", arguments: ["--max-size", "1KiB"])
        let empty = h.clipd(["recv"], a)
        #expect(empty.status == 1 && empty.stderr == "clipd: the clipboard is empty\n")
        let big = h.clipd(["send"], a, stdin: [UInt8](repeating: 1, count: 2048))
        #expect(big.status == 1 && big.stderr.contains("over this daemon's maximum of 1.0 KiB"))
        // Far larger than the socket buffers: the daemon does not read it, the CLI still ends.
        let huge = h.clipd(["send"], a, stdin: [UInt8](repeating: 1, count: 8 << 20))
        #expect(huge.status == 1 && huge.stderr == "clipd: item is 8.0 MiB, over this daemon's maximum of 1.0 KiB (--max-size)\n")
        #expect(h.clipd(["status"], a).status == 0)
        let malformed = h.clipd(["pair", "not-a-real-code", "127.0.0.1:1"], a)
        #expect(malformed.status == 2 && malformed.stderr.contains("malformed code"))
        let unreachable = h.clipd(["pair", "aardvark-adroitness-zulu-yucatan", "127.0.0.1:\(DaemonHarness.freePort())"], a)
        #expect(unreachable.status == 1 && unreachable.stderr.contains("cannot reach"))
        #expect(h.clipd(["send", "-t", "text/html", "<b>x</b>"], a).status == 0)
        let wrongType = h.clipd(["recv", "-t", "image/png"], a)
        #expect(wrongType.status == 1 && wrongType.stderr.contains("has no image/png (it has: text/html)"))
        let primary = h.clipd(["send", "-p", "x"], a)
        #expect(primary.status == 1 && primary.stderr.contains("--selections clipboard,primary"))
        let second = h.prepare("alpha2")
        let clash = h.run(DaemonHarness.binary, ["run", "--home", a.home])
        #expect(clash.status == 1 && clash.stderr.contains("already running"))
        _ = second
        let badConfig = h.run(DaemonHarness.binary, ["run", "--home", h.root + "/ghost", "--config", "/nonexistent.toml"])
        #expect(badConfig.status == 2 && badConfig.stderr == "clipd: cannot read config /nonexistent.toml: no such file\n")
    }

    @Test func primaryIsItsOwnStream() throws {
        let h = DaemonHarness()
        let both = ["--selections", "clipboard,primary"]
        let (a, b) = try h.startPairedDaemons(alphaArguments: both, betaArguments: both)
        #expect(h.clipd(["send", "clip"], a).status == 0)
        #expect(h.clipd(["send", "-p", "prim"], a).status == 0)
        #expect(h.eventually { h.received(b, primary: true) == "prim" })
        #expect(h.received(b) == "clip")
    }

    @Test func watchPrintsEachChange() throws {
        let h = DaemonHarness()
        let (a, b) = try h.startPairedDaemons()
        let printed = h.root + "/watch.out"
        _ = try h.spawn(DaemonHarness.binary, ["recv", "--home", b.home, "--watch"], log: printed, errors: h.root + "/watch.err")
        #expect(h.awaitWatches(b))
        #expect(h.clipd(["send", "--wait", "one"], a).status == 0)
        #expect(h.clipd(["send", "--wait", "two"], a).status == 0)
        var seen = ""
        let ok = h.eventually {
            seen = (try? String(contentsOfFile: printed, encoding: .utf8)) ?? ""
            return seen == "one\ntwo\n"
        }
        #expect(ok, "watch printed \(seen.debugDescription)")
    }

    @Test func watchRunsACommandPerChangeWithTheDataOnStdin() throws {
        let h = DaemonHarness()
        let (a, b) = try h.startPairedDaemons()
        let out = h.root + "/watched.txt"
        _ = try h.spawn(DaemonHarness.binary, ["recv", "--home", b.home, "--watch", "sh", "-c", "cat >> \(out); echo '|' >> \(out)"])
        #expect(h.awaitWatches(b))
        // The first run is for the clipboard as it was when the watch began: empty.
        #expect(h.eventually { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") == "|\n" })
        #expect(h.clipd(["send", "--wait", "first"], a).status == 0)
        #expect(h.eventually { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") == "|\nfirst|\n" })
        #expect(h.clipd(["send", "--wait", "second"], a).status == 0)
        #expect(h.eventually { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") == "|\nfirst|\nsecond|\n" })
    }

    @Test func unpairForgetsThePeer() throws {
        let h = DaemonHarness()
        let (a, b) = try h.startPairedDaemons()
        #expect(h.clipd(["unpair", "beta"], a).status == 0)
        #expect(h.clipd(["peers"], a).stdout.isEmpty)
        // beta redials, but alpha no longer knows its key: nothing gets through.
        #expect(h.clipd(["send", "ignored"], b).status == 0)
        usleep(500_000)
        #expect(h.received(a) == nil)
    }
}

@Suite("Integration: pairing window and private state", .serialized)
struct PairingWindowAndStateTests {
    /// A daemon stopped while a peer, a watching client and a pairing window were attached
    /// used to abort on its way out now and then: a connection that closed after the daemon
    /// object was released read it through its unowned reference ("Fatal error: Attempted to
    /// read an unowned reference"). Found by `make test-sanitize`.
    @Test func aDaemonStoppedWithEverythingAttachedExitsCleanly() throws {
        let h = DaemonHarness()
        for round in 0..<3 {
            let a = try h.start("busy-\(round)"), b = try h.start("peer-\(round)", listen: false)
            try h.pair(b, with: a)
            #expect(h.eventually { h.clipd(["status"], a).stdout.contains("1 connected") })
            let watch = try h.startCLI(["recv", "--watch"], a)
            let window = try h.startCLI(["pair"], a)
            #expect(h.eventually { (try? String(contentsOfFile: window.stdoutPath, encoding: .utf8))?.isEmpty == false })
            #expect(h.awaitWatches(a))  // a printing watch shows changes from then on only
            #expect(h.clipd(["send", "last words"], b).status == 0)
            #expect(h.eventually { (try? String(contentsOfFile: watch.stdoutPath, encoding: .utf8))?.contains("last words") == true })
            let ended = h.stop(a)
            #expect(ended != nil && ended?.signal == nil && ended?.status == 0, "round \(round): \(String(describing: ended))\n\(h.logText(a))")
            #expect(!h.logText(a).contains("Fatal error"))
            _ = h.finish(watch, timeout: 10)
            _ = h.finish(window, timeout: 10)
            h.stop(b)
        }
    }

    @Test func pairingWindowExpiresAndTheCodeDies() throws {
        let h = DaemonHarness()
        let a = try h.start("alpha")
        let b = try h.start("beta", listen: false)
        let result = h.clipd(["pair", "--timeout", "1"], a)
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("\nclipd: pairing failed: the code expired after 1 second; run `clipd pair` again\n"))
        let code = result.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(code.split(separator: "-").count == 4, "the code is printed alone on stdout's first line")
        let late = h.clipd(["pair", code, a.address], b)
        #expect(late.status == 1 && late.stderr.contains("no pairing window"))
    }

    @Test func secondWindowIsRefusedWhileOneIsOpen() throws {
        let h = DaemonHarness()
        let a = try h.start("alpha")
        let (_, window) = try h.openWindow(a)
        let second = h.clipd(["pair"], a)
        #expect(second.status == 1 && second.stderr.contains("already open"))
        window.terminate()
    }

    @Test func stateFilesArePrivateAndLooserOnesAreRefused() throws {
        let h = DaemonHarness()
        let (a, _) = try h.startPairedDaemons()
        for (path, mode) in [(a.home, 0o700), (a.home + "/identity.toml", 0o600), (a.home + "/peers.toml", 0o600), (a.home + "/clipd.sock", 0o600)] {
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(Int(info.st_mode & 0o777) == mode, "\(path) has mode \(String(info.st_mode & 0o777, radix: 8))")
        }
        let peers = try String(contentsOfFile: a.home + "/peers.toml", encoding: .utf8)
        #expect(peers.contains("psk = ") && !peers.contains("code"), "stores the PSK and never the code")
        h.stop(a)
        chmod(a.home + "/peers.toml", 0o644)
        let refused = h.run(DaemonHarness.binary, ["run", "--home", a.home])
        #expect(refused.status == 1)
        #expect(refused.stderr == "clipd: refusing to use \(a.home)/peers.toml: mode 644 lets other users in; run `chmod 600 \(a.home)/peers.toml`\n")
        chmod(a.home + "/peers.toml", 0o600)
        chmod(a.home, 0o755)
        let openDirectory = h.run(DaemonHarness.binary, ["run", "--home", a.home])
        #expect(openDirectory.status == 1 && openDirectory.stderr.contains("run `chmod 700 \(a.home)`"))
        chmod(a.home, 0o700)
        try h.start(a)
        #expect(h.eventually { h.clipd(["peers"], a).stdout.contains("connected") }, "nothing was lost by the refusals")
    }
}

@Suite("Integration: mesh rules and configuration", .serialized)
struct MeshAndConfigurationTests {
    @Test func bothSidesDialingKeepOneSession() throws {
        let h = DaemonHarness()
        let a = try h.start("alpha")
        let b = try h.start("beta")
        // Pair twice, once in each direction: each daemon then knows the other's address
        // and both dial.
        try h.pair(b, with: a)
        try h.pair(a, with: b)
        let bothDial = h.eventually {
            h.clipd(["peers"], a).stdout.contains(b.address) && h.clipd(["peers"], b).stdout.contains(a.address)
        }
        #expect(bothDial)
        h.stop(a)
        try h.start(a)  // a restart makes both sides dial at the same moment
        #expect(h.eventually { h.clipd(["status"], a).stdout.contains("1 connected (1 sessions)") })
        #expect(h.eventually { h.clipd(["status"], b).stdout.contains("1 connected (1 sessions)") })
        usleep(500_000)
        #expect(h.clipd(["status"], a).stdout.contains("(1 sessions)"), "a duplicate session survived")
        #expect(h.clipd(["send", "--wait", "one session"], a).status == 0)
        #expect(h.received(b) == "one session")
    }

    @Test func configFileIsReadAndCommandLineWins() throws {
        let h = DaemonHarness()
        let port = DaemonHarness.freePort()
        let config = h.root + "/clipd.toml"
        try """
            # comments are fine
            listen = ["127.0.0.1:\(port)"]
            max_size = "2KiB"
            selections = ["clipboard", "primary"]
            name = "from-config"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let a = h.prepare("configured", listen: false, arguments: ["--config", config, "--max-size", "3KiB"])
        try h.start(a)
        let status = h.clipd(["status"], a).stdout
        #expect(status.contains("clipd running: configured"), "--name (given by the harness) wins over the file")
        #expect(status.contains("listening: 127.0.0.1:\(port)"))
        #expect(status.contains("selections: clipboard,primary"))
        #expect(h.clipd(["send"], a, stdin: [UInt8](repeating: 1, count: 2500)).status == 0, "--max-size 3KiB overrides 2KiB")
        #expect(h.clipd(["send"], a, stdin: [UInt8](repeating: 1, count: 3100)).status == 1)

        try "max_size = \"lots\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let bad = h.run(DaemonHarness.binary, ["run", "--home", h.root + "/other", "--config", config])
        #expect(bad.status == 2 && bad.stderr == "clipd: invalid size 'lots': expected a number with an optional K, M, G, KiB, MiB or GiB suffix\n")
        try "colour = \"blue\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let unknown = h.run(DaemonHarness.binary, ["run", "--home", h.root + "/other", "--config", config])
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown key 'colour'"))
        try "listen = [\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broken = h.run(DaemonHarness.binary, ["run", "--home", h.root + "/other", "--config", config])
        #expect(broken.status == 2 && broken.stderr.hasPrefix("clipd: invalid config \(config):") && broken.stderr.filter { $0 == "\n" }.count == 1)
    }
}
