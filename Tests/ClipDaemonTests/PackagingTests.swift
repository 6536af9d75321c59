import ClipTestSupport
import Foundation
import Testing

/// `make install`'s layout, from the same script (`scripts/install.sh`) on the binaries of
/// this build: systemd units checked by systemd-analyze, completions loaded by bash, zsh
/// and fish, man pages rendered by groff without a warning.
@Suite("Packaging: install, units, completions, man pages", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze (make test installs it)"))
struct PackagingTests {
    let h = DaemonHarness()
    let prefix: String
    let installed: DaemonHarness.Result

    init() {
        prefix = h.root + "/prefix"
        let binaries = URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().path
        installed = h.run("/usr/bin/env", ["PREFIX=\(prefix)", VectorFile.packageRoot.path + "/scripts/install.sh", binaries])
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: prefix + "/" + path) }

    @Test func everythingLandsUnderThePrefix() {
        #expect(installed.status == 0, "\(installed.stderr)")
        for path in ["bin/clipd", "bin/passvm", "lib/systemd/user/clipd.service", "lib/systemd/system/clipd-guest.service",
                     "lib/systemd/user/passvm-hold@.service",
                     "lib/udev/rules.d/90-clipd.rules", "share/bash-completion/completions/clipd", "share/zsh/site-functions/_clipd",
                     "share/fish/vendor_completions.d/clipd.fish", "share/man/man1/clipd.1", "share/man/man1/passvm.1",
                     "share/bash-completion/completions/passvm", "share/zsh/site-functions/_passvm", "share/fish/vendor_completions.d/passvm.fish"] {
            #expect(exists(path), "missing \(path)")
        }
        let unit = (try? String(contentsOfFile: prefix + "/lib/systemd/user/clipd.service", encoding: .utf8)) ?? ""
        #expect(unit.contains("ExecStart=\(prefix)/bin/clipd run\n"))
        #expect(h.run(prefix + "/bin/clipd", ["--help"]).status == 0)
    }

    @Test func theUnitsPassSystemdAnalyzeVerifyAndAreHardened() throws {
        #expect(installed.status == 0)
        let runtime = h.root + "/xdg-runtime"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let environment = ["MANPATH=\(prefix)/share/man:", "XDG_RUNTIME_DIR=\(runtime)", "SYSTEMD_LOG_COLOR=0"]
        let system = h.run("/usr/bin/env", environment + ["systemd-analyze", "verify", prefix + "/lib/systemd/system/clipd-guest.service"])
        #expect(system.status == 0 && system.stderr.isEmpty && system.stdout.isEmpty, "\(system.stdout)\(system.stderr)")
        let user = h.run("/usr/bin/env", environment + ["systemd-analyze", "--user", "verify", prefix + "/lib/systemd/user/clipd.service"])
        #expect(user.status == 0 && user.stderr.isEmpty && user.stdout.isEmpty, "\(user.stdout)\(user.stderr)")
        // The agent port holder's template, as an instance for one VM.
        let holder = h.root + "/passvm-hold@win11.service"
        try? FileManager.default.removeItem(atPath: holder)
        try FileManager.default.copyItem(atPath: prefix + "/lib/systemd/user/passvm-hold@.service", toPath: holder)
        let held = h.run("/usr/bin/env", environment + ["systemd-analyze", "--user", "verify", holder])
        #expect(held.status == 0 && held.stderr.isEmpty && held.stdout.isEmpty, "\(held.stdout)\(held.stderr)")
        let holderUnit = (try? String(contentsOfFile: holder, encoding: .utf8)) ?? ""
        #expect(holderUnit.contains("ExecStart=\(prefix)/bin/passvm hold --qemu %t/passvm/%i/vdagent.sock --listen %t/passvm/%i/vdagent-holder.sock"))
        #expect(holderUnit.contains("Restart=always"), "the port is held again at once if the holder ever stops")
        let holderSecurity = h.run("/usr/bin/env", environment + ["systemd-analyze", "security", "--offline=true", "--threshold=30", holder])
        #expect(holderSecurity.status == 0, "\(holderSecurity.stdout.split(separator: "\n").last ?? "")")
        for (unit, hardening) in [("system/clipd-guest.service", ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet=\n", "DevicePolicy=closed"]),
                                  ("user/clipd.service", ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=read-only", "MemoryDenyWriteExecute=yes"])] {
            let text = (try? String(contentsOfFile: prefix + "/lib/systemd/" + unit, encoding: .utf8)) ?? ""
            for line in hardening { #expect(text.contains(line), "\(unit) lacks \(line)") }
        }
        // The guest unit scores well in systemd's own exposure analysis (0 best, 10 worst; the
        // threshold counts tenths).
        let security = h.run("/usr/bin/env", environment + ["systemd-analyze", "security", "--offline=true", "--threshold=30",
                                                            prefix + "/lib/systemd/system/clipd-guest.service"])
        #expect(security.status == 0, "\(security.stdout.split(separator: "\n").last ?? "")")
    }

    @Test func theUdevRuleStartsTheGuestUnitForClipdsPortOnly() throws {
        let rule = try String(contentsOfFile: prefix + "/lib/udev/rules.d/90-clipd.rules", encoding: .utf8)
        let line = try #require(rule.split(separator: "\n").first { !$0.hasPrefix("#") && !$0.isEmpty })
        #expect(line.contains("SUBSYSTEM==\"virtio-ports\"") && line.contains("ATTR{name}==\"org.clipd.0\""))
        #expect(line.contains("TAG+=\"systemd\"") && line.contains("ENV{SYSTEMD_WANTS}+=\"clipd-guest.service\""))
        let unit = try String(contentsOfFile: prefix + "/lib/systemd/system/clipd-guest.service", encoding: .utf8)
        #expect(unit.contains("BindsTo=dev-virtio\\x2dports-org.clipd.0.device"), "the unit stops when the port goes")
        let escaped = h.run("/usr/bin/systemd-escape", ["--path", "--suffix=device", "/dev/virtio-ports/org.clipd.0"]).stdout
        #expect(escaped == "dev-virtio\\x2dports-org.clipd.0.device\n", "the device unit's name is systemd's own escaping")
    }

    @Test func completionsLoadAndComplete() throws {
        let bash = h.run("/bin/bash", ["-c", """
            source \(prefix)/share/bash-completion/completions/clipd
            COMP_WORDS=(clipd pe); COMP_CWORD=1; COMP_LINE='clipd pe'; COMP_POINT=8; _clipd clipd pe clipd; echo "${COMPREPLY[*]}"
            COMPREPLY=(); COMP_WORDS=(clipd config ''); COMP_CWORD=2; COMP_LINE='clipd config '; COMP_POINT=13; _clipd clipd '' config; echo "${COMPREPLY[*]}"
            """])
        let lines = bash.stdout.split(separator: "\n").map(String.init)
        #expect(bash.status == 0 && lines.count == 2, "\(bash.stdout)\(bash.stderr)")
        #expect(lines.first == "peers", "only the subcommand starting with pe: \(bash.stdout)")
        #expect(lines.last.map { $0.contains("check") && $0.contains("reload") && $0.contains("default") } == true, "\(bash.stdout)")

        if FileManager.default.isExecutableFile(atPath: "/usr/bin/zsh") {
            for tool in ["clipd", "passvm"] {
                let zsh = h.run("/usr/bin/zsh", ["-n", prefix + "/share/zsh/site-functions/_\(tool)"])
                #expect(zsh.status == 0, "\(zsh.stderr)")
            }
        }
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/fish") {
            let fish = h.run("/usr/bin/fish", ["--no-config", "-c", "source \(prefix)/share/fish/vendor_completions.d/clipd.fish; complete -C 'clipd pe'"])
            #expect(fish.status == 0 && fish.stdout.contains("peers"), "\(fish.stdout)\(fish.stderr)")
        }
    }

    /// Values complete too: fixed lists, and the names of paired peers, which the running
    /// daemon gives (the `--home` on the line, or CLIPD_HOME).
    @Test func valuesAndPeerNamesComplete() throws {
        let (a, _) = try h.startPairedDaemons()
        let script = """
            PATH=\(prefix)/bin:$PATH  # the completion asks the installed clipd
            source \(prefix)/share/bash-completion/completions/clipd
            COMPREPLY=(); COMP_WORDS=(clipd peers set x --direction ''); COMP_CWORD=5; COMP_LINE='clipd peers set x --direction '; COMP_POINT=31; _clipd clipd '' --direction; echo "${COMPREPLY[*]}"
            COMP_WORDS=(clipd unpair --home \(a.home) b); COMP_CWORD=4; COMP_LINE='clipd unpair --home \(a.home) b'; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _clipd clipd b \(a.home); echo "${COMPREPLY[*]}"
            COMP_WORDS=(clipd run --backend w); COMP_CWORD=3; COMP_LINE='clipd run --backend w'; COMP_POINT=21; COMPREPLY=(); _clipd clipd w --backend; echo "${COMPREPLY[*]}"
            """
        let bash = h.run("/bin/bash", ["-c", script])
        let lines = bash.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count >= 3, "\(bash.stdout)\(bash.stderr)")
        #expect(Set(lines[0].split(separator: " ").map(String.init)) == ["both", "send", "receive", "off"], "\(lines)")
        #expect(lines[1] == "beta", "the daemon's paired peer: \(lines)")
        #expect(lines[2] == "wayland", "\(lines)")
        #expect(h.run(prefix + "/bin/clipd", ["--version"]).stdout == "0.1.0\n")
        let page = try String(contentsOfFile: prefix + "/share/man/man1/clipd.1", encoding: .utf8)
        #expect(page.hasPrefix(".TH \"CLIPD\" \"1\" \"\" \"clipd 0.1.0\""))
    }

    @Test func manPagesRenderCleanlyAndCoverEveryCommand() throws {
        for (tool, commands) in [("clipd", ["clipd run", "clipd pair", "clipd send", "clipd recv", "clipd status", "clipd peers set", "clipd pause",
                                             "clipd resume", "clipd config check", "clipd config reload", "clipd doctor", "CLIPBOARD_STATE", "SIGHUP"]),
                                 ("passvm", ["passvm check", "passvm args", "passvm run", "passvm devices"])] {
            let page = prefix + "/share/man/man1/\(tool).1"
            let rendered = h.run("/usr/bin/env", ["MANWIDTH=100", "groff", "-man", "-Tutf8", "-ww", "-P", "-cbou", page])
            #expect(rendered.status == 0 && rendered.stderr.isEmpty, "groff: \(rendered.stderr)")
            for command in commands { #expect(rendered.stdout.contains(command), "\(tool)(1) lacks \(command)") }
        }
    }
}
