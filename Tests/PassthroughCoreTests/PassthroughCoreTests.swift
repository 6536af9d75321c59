import ClipTestSupport
import Foundation
import PassthroughCore
import Testing

/// passvm's core on captured host trees (Tests/Fixtures/hosts, written by
/// make-host-trees.py from real layouts) and VM configs (Tests/Fixtures/vms).
@Suite("passvm: configs, host checks and QEMU arguments")
struct PassthroughCoreTests {
    static let fixtures = VectorFile.packageRoot.appendingPathComponent("Tests/Fixtures").path

    func host(_ name: String, user: HostUser = HostUser(uid: 0, groups: [0])) -> HostTree {
        HostTree(root: "\(Self.fixtures)/hosts/\(name)", user: user)
    }

    func vm(_ name: String) throws -> VMConfig { try VMConfig.load(path: "\(Self.fixtures)/vms/\(name).toml") }

    func paths(_ name: String) -> VMPaths {
        VMPaths(runtime: "/run/user/1000/passvm/\(name)", state: "/home/user/.local/state/passvm/\(name)")
    }

    func errors(_ findings: [Finding]) -> [String] { findings.filter { $0.severity == .error }.map(\.message) }

    @Test(arguments: [("windows-gpu", "gpu-audio-group"), ("linux-direct-boot", "gpu-audio-group"), ("shared-group", "shared-nic-group")])
    func argumentsMatchTheGoldenFiles(vmName: String, hostName: String) throws {
        let config = try vm(vmName)
        let arguments = QEMUCommand.arguments(config: config, plan: PassthroughPlan(config: config, host: host(hostName)), paths: paths(vmName))
        let golden = try String(contentsOfFile: "\(Self.fixtures)/golden/\(vmName).args", encoding: .utf8)
        #expect(arguments == golden.split(separator: "\n").map(String.init))
    }

    @Test func windowsGetsTheHyperVSetWithItsDependenciesAndNoHPET() throws {
        let config = try vm("windows-gpu")
        let arguments = QEMUCommand.arguments(config: config, plan: PassthroughPlan(config: config, host: host("gpu-audio-group")), paths: paths("w"))
        let cpu = try #require(arguments.firstIndex(of: "-cpu").map { arguments[$0 + 1] }).split(separator: ",").map(String.init)
        for flag in ["hv-relaxed", "hv-vapic", "hv-spinlocks=0x1fff", "hv-vpindex", "hv-runtime", "hv-time", "hv-synic", "hv-stimer",
                     "hv-frequencies", "hv-tlbflush", "hv-ipi"] {
            #expect(cpu.contains(flag), "\(flag)")
        }
        // Dependencies come first: synic needs vpindex; stimer needs synic and time.
        #expect(cpu.firstIndex(of: "hv-vpindex")! < cpu.firstIndex(of: "hv-synic")!)
        #expect(cpu.firstIndex(of: "hv-synic")! < cpu.firstIndex(of: "hv-stimer")!)
        #expect(cpu.firstIndex(of: "hv-time")! < cpu.firstIndex(of: "hv-stimer")!)
        #expect(arguments.contains("q35,accel=kvm,hpet=off"))
        #expect(arguments.contains("base=localtime,driftfix=slew"))
    }

    /// Looking Glass in both modes: SPICE always (the client's keyboard and mouse), the
    /// agent's port with SPICE only when clipd does not own it; `passvm check` names the mode.
    @Test func lookingGlassGetsSPICEAndTheAgentPortGoesToOneOwner() throws {
        var config = try vm("windows-gpu")
        let plan = PassthroughPlan(config: config, host: host("gpu-audio-group"))
        let owned = QEMUCommand.arguments(config: config, plan: plan, paths: paths("w"))
        #expect(owned.contains("-spice") && !owned.contains("spicevmc,id=spicevmc,name=vdagent"))
        #expect(owned.filter { $0.contains("name=com.redhat.spice.0") }.count == 1, "one owner of the agent's port: clipd's holder")
        let clipdMode = HostChecks.run(config: config, host: host("gpu-audio-group"), paths: paths("w"))
        #expect(clipdMode.contains { $0.message.hasPrefix("Looking Glass with clipd owning") && $0.message.contains("spice:clipboard=no") })

        config.vdagent = false
        let spice = QEMUCommand.arguments(config: config, plan: plan, paths: paths("w"))
        #expect(spice.contains("spicevmc,id=spicevmc,name=vdagent"))
        #expect(spice.contains("virtserialport,bus=vser.0,chardev=spicevmc,name=com.redhat.spice.0"))
        #expect(spice.filter { $0.contains("name=com.redhat.spice.0") }.count == 1)
        #expect(!spice.contains { $0.contains("vdagent.sock") })
        let spiceMode = HostChecks.run(config: config, host: host("gpu-audio-group"), paths: paths("w"))
        #expect(spiceMode.contains { $0.message.hasPrefix("Looking Glass with SPICE owning") && $0.message.contains("only while the client runs") })

        config.lookingGlass = nil
        #expect(!QEMUCommand.arguments(config: config, plan: plan, paths: paths("w")).contains("-spice"))
    }

    @Test func theGroupGoesWholeAndOneSlotStaysOneMultifunctionDevice() throws {
        let config = try vm("windows-gpu")
        let plan = PassthroughPlan(config: config, host: host("gpu-audio-group"))
        #expect(plan.slots.count == 1)
        #expect(plan.functions.map(\.address.description) == ["0000:01:00.0", "0000:01:00.1"], "HDMI audio comes along; the bridge does not")
        let arguments = QEMUCommand.arguments(config: config, plan: plan, paths: paths("w"))
        #expect(arguments.contains("vfio-pci,host=0000:01:00.0,bus=rp1,addr=00.0,multifunction=on"))
        #expect(arguments.contains("vfio-pci,host=0000:01:00.1,bus=rp1,addr=00.1"))
    }

    @Test func gpuWithItsAudioStillOnTheHostDriver() throws {
        let findings = HostChecks.run(config: try vm("windows-gpu"), host: host("gpu-audio-group"), paths: paths("w"))
        let errors = errors(findings)
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.contains("0000:01:00.1 (HDMI/audio device 10de:228b) is bound to snd_hda_intel, not vfio-pci") == true)
        #expect(findings.contains { $0.message.contains("shares IOMMU group 14 and the slot") && $0.severity == .note })
        #expect(findings.contains { $0.message.contains("vfio-pci.ids=10de:228b") })
        #expect(findings.contains { $0.message.hasPrefix("iommu=pt is fine") })
    }

    @Test func aGroupSharedWithTheHostsNICIsNamedWithItsDriver() throws {
        let errors = errors(HostChecks.run(config: try vm("shared-group"), host: host("shared-nic-group"), paths: paths("s")))
        #expect(errors.contains { $0.hasPrefix("IOMMU group 12 also holds 0000:0b:00.0 (Ethernet controller 8086:1539), driver igb, which the host uses") })
        #expect(errors.contains { $0.hasPrefix("RLIMIT_MEMLOCK is 64 MiB but the guest has 8192 MiB") })
        #expect(errors.contains { $0.hasPrefix("hugepages = true but only 0 MiB") })
        #expect(errors.contains { $0.hasPrefix("USB id 046d:c52b matches 2 devices (3-1.2, 3-2)") })
        #expect(errors.contains { $0.hasPrefix("USB device 05e3:0610 (Genesys Logic Hub) is a hub") })
        #expect(errors.count == 5, "\(errors)")
    }

    @Test func iommuSwitchedOffIsNamedWithTheError22Explanation() throws {
        let errors = errors(HostChecks.run(config: try vm("windows-gpu"), host: host("iommu-off"), paths: paths("w")))
        #expect(errors.first == "the IOMMU is off: the kernel command line has amd_iommu=off; remove it and reboot (vfio-pci cannot work without an IOMMU: it fails with \"probe of ... failed with error -22\")")
    }

    @Test func noVirtualisationAndNoKVM() throws {
        let errors = errors(HostChecks.run(config: try vm("windows-gpu"), host: host("no-virtualisation"), paths: paths("w")))
        #expect(errors.contains { $0.hasPrefix("the CPU shows no virtualisation support") })
        #expect(errors.contains { $0.hasPrefix("/dev/kvm is missing") })
        #expect(errors.contains { $0.hasPrefix("PCI device 0000:01:00.0 does not exist on this host") })
        #expect(errors.contains { $0.hasPrefix("USB device port 3-2 is not connected") })
    }

    @Test func deviceNodesAreJudgedForTheUserWhoRunsTheVM() throws {
        // Checked-out fixture files are 0644: readable, not writable, for anyone but root.
        let user = HostUser(uid: 4321, groups: [4321])
        let errors = errors(HostChecks.run(config: try vm("windows-gpu"), host: host("gpu-audio-group", user: user), paths: paths("w")))
        #expect(errors.contains { $0.hasPrefix("/dev/kvm is not readable and writable for this user") })
        #expect(errors.contains { $0.hasPrefix("/dev/vfio/14 is not readable and writable") })
        #expect(errors.contains { $0.hasPrefix("/dev/bus/usb/003/003 (Logitech USB Receiver) is not readable and writable") })
    }

    /// The GPU the host boots on, and every file the VM needs, on a copy of a captured tree
    /// with those changed: boot_vga set on the passed GPU, the firmware variables, the disk
    /// and swtpm missing, a boot kernel that is not there.
    @Test func theHostsBootDisplayAndMissingFilesAreNamed() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("passvm-host-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.copyItem(atPath: "\(Self.fixtures)/hosts/gpu-audio-group", toPath: root)
        try "1\n".write(toFile: root + "/sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/boot_vga", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: root + "/usr/share/OVMF/OVMF_VARS_4M.fd")
        try FileManager.default.removeItem(atPath: root + "/var/lib/vms/win11.qcow2")
        var text = try String(contentsOfFile: "\(Self.fixtures)/vms/windows-gpu.toml", encoding: .utf8)
        text = text.replacingOccurrences(of: "os = \"windows\"\n", with: "os = \"windows\"\ntpm = true\n")
        text += "\n[boot]\nkernel = \"/srv/guest/missing-vmlinuz\"\n"
        let config = try VMConfig.parse(text, source: "win11.toml")
        let errors = errors(HostChecks.run(config: config, host: HostTree(root: root, user: HostUser(uid: 0, groups: [0])), paths: paths("w")))
        #expect(errors.contains { $0.hasPrefix("0000:01:00.0 (VGA controller 10de:2484) is the host's boot display (boot_vga = 1)") }, "\(errors)")
        #expect(errors.contains("firmware.vars /usr/share/OVMF/OVMF_VARS_4M.fd does not exist: install OVMF (apt install ovmf) or fix the path"))
        #expect(errors.contains { $0.hasPrefix("disk /var/lib/vms/win11.qcow2 does not exist: create it (qemu-img create -f qcow2") })
        #expect(errors.contains("boot file /srv/guest/missing-vmlinuz does not exist"))
        #expect(errors.contains("tpm = true needs swtpm: apt install swtpm"))
        #expect(!errors.contains { $0.hasPrefix("firmware.code") }, "the code file is still there")
    }

    /// `passvm devices` on captured trees: its output matches the golden files, and it is
    /// config a person can paste: under a name and memory it parses, and every PCI address
    /// and USB id it lists comes back out of the parsed config.
    @Test(arguments: ["gpu-audio-group", "shared-nic-group"])
    func devicesListsGroupsAndUSBAsConfigLines(hostName: String) throws {
        let passvm = URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().appendingPathComponent("passvm").path
        let result = DaemonHarness().run(passvm, ["devices", "--root", "\(Self.fixtures)/hosts/\(hostName)"])
        #expect(result.status == 0, "\(result.stderr)")
        let golden = try String(contentsOfFile: "\(Self.fixtures)/golden/devices-\(hostName).txt", encoding: .utf8)
        #expect(result.stdout == golden)
        let config = try VMConfig.parse("name = \"pasted\"\nmemory = \"1G\"\n" + result.stdout, source: "pasted.toml")
        let addresses = result.stdout.split(separator: "\n").filter { $0.hasPrefix("address = ") }.count
        let ids = result.stdout.split(separator: "\n").filter { $0.hasPrefix("id = ") }.count
        #expect(config.pci.count == addresses && addresses > 0)
        #expect(config.usb.count == ids && ids > 0)
    }

    /// `passvm run`'s first step: private directories, and the firmware variables copied
    /// for this VM on its first run only, so the settings a guest saves survive the next.
    @Test func theFirstRunCopiesTheFirmwareVariablesAndLaterRunsKeepThem() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passvm-prepare-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let template = directory + "/OVMF_VARS_4M.fd"
        try Data("template".utf8).write(to: URL(fileURLWithPath: template))
        var config = VMConfig(name: "fw", memory: 1 << 30, cpus: 1)
        config.firmwareVars = template
        let paths = VMPaths(runtime: directory + "/run", state: directory + "/state")
        #expect(try paths.prepare(for: config) == ["fw: copied \(template) to \(paths.firmwareVars) (this VM's own firmware settings)"])
        #expect(try String(contentsOfFile: paths.firmwareVars, encoding: .utf8) == "template")
        for path in [paths.runtime, paths.state] {
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o700, "\(path)")
        }
        try Data("saved by the guest".utf8).write(to: URL(fileURLWithPath: paths.firmwareVars))
        #expect(try paths.prepare(for: config).isEmpty)
        #expect(try String(contentsOfFile: paths.firmwareVars, encoding: .utf8) == "saved by the guest")
    }

    /// Review finding 5: a VM directory that is a symbolic link (someone else's, in /tmp)
    /// is refused in one line, not followed.
    @Test func aSymlinkedRuntimeDirectoryIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passvm-link-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/theirs", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory + "/run", withDestinationPath: directory + "/theirs")
        let paths = VMPaths(runtime: directory + "/run", state: directory + "/state")
        #expect(throws: PassvmError.self) { try paths.prepare(for: VMConfig(name: "linked", memory: 1 << 30, cpus: 1)) }
        do { _ = try paths.prepare(for: VMConfig(name: "linked", memory: 1 << 30, cpus: 1)) } catch {
            #expect("\(error)".contains("symbolic link"), "\(error)")
        }
    }

    @Test func aRunningInstanceIsFound() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("passvm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // This test process stands in for QEMU: its command line mentions the VM's name.
        let config = VMConfig(name: "clipdPackageTests", memory: 1 << 30, cpus: 1)
        try "\(getpid())\n".write(toFile: directory + "/qemu.pid", atomically: true, encoding: .utf8)
        let findings = HostChecks.run(config: config, host: HostTree(), paths: VMPaths(runtime: directory, state: directory))
        #expect(findings.contains { $0.message == "clipdPackageTests is already running (QEMU pid \(getpid())): stop it first" })
    }

    @Test func badConfigsGetOneLineErrorsNamingTheKey() {
        func problem(_ text: String) -> String {
            do {
                _ = try VMConfig.parse(text, source: "vm.toml")
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(problem("name = \"a\"\n") == "invalid vm.toml: memory is required (e.g. memory = \"8G\")")
        #expect(problem("name = \"a\"\nmemory = \"8X\"\n") == "invalid vm.toml: memory must be a size like \"16G\" or \"8192M\"")
        #expect(problem("name = \"a\"\nmemory = \"8G\"\n[[pci]]\naddress = \"1:0.0\"\n") == "invalid vm.toml: pci[1].address must look like 0000:01:00.0 or 01:00.0 (see `passvm devices`)")
        #expect(problem("name = \"a\"\nmemory = \"8G\"\n[[usb]]\nid = \"046d\"\n") == "invalid vm.toml: usb[1].id must be VVVV:PPPP in hex, as `lsusb` and `passvm devices` print it")
        #expect(problem("name = \"a\"\nmemory = \"8G\"\ncolour = 1\n").hasPrefix("invalid vm.toml: unknown key 'colour'"))
        #expect(problem("name = \"a b\"\nmemory = \"8G\"\n").hasPrefix("invalid vm.toml: name may hold only"))
        #expect(problem("name = \"a\"\nmemory = \"8G\"\n[boot]\nkernel = \"/k\"\nextra = []\n").hasPrefix("invalid vm.toml: unknown key 'boot.extra'"))
        #expect(problem("name = \"a\nmemory").hasPrefix("invalid vm.toml: "))
        // What made the old parser (toml++) abort the process.
        #expect(problem(#"a = ["""x"""", [}]"#) == "invalid vm.toml: expected a value, found '}' at line 1, column 17")
        #expect(problem(#"a = 1979-05-27T"07:32:00Z"#) == #"invalid vm.toml: expected a digit in a date or time, found '"' at line 1, column 16"#)
    }
}
