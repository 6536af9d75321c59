/// One thing `passvm check` found: what is wrong (or worth knowing) and how to fix it.
public struct Finding: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning, note }
    public let severity: Severity
    public let message: String

    public var description: String { "\(severity.rawValue): \(message)" }

    static func error(_ message: String) -> Finding { Finding(severity: .error, message: message) }
    static func warning(_ message: String) -> Finding { Finding(severity: .warning, message: message) }
    static func note(_ message: String) -> Finding { Finding(severity: .note, message: message) }
}

/// Every check a VM needs before it starts, run against a host tree. Pure apart from
/// reading the tree; the order of findings is the order a person fixes things in.
public enum HostChecks {
    public static func run(config: VMConfig, host: HostTree, paths: VMPaths) -> [Finding] {
        let plan = PassthroughPlan(config: config, host: host)
        var findings = accelerator(config: config, host: host)
        if !config.pci.isEmpty {
            findings += iommu(host: host)
            findings += devices(config: config, plan: plan, host: host)
            findings += memoryLock(config: config, host: host)
        }
        findings += hugePages(config: config, host: host)
        findings += usb(plan: plan, host: host)
        findings += files(config: config, host: host)
        findings += lookingGlass(config: config, paths: paths)
        findings += running(config: config, host: host, paths: paths)
        return findings
    }

    /// Which Looking Glass mode the config is in, how to run the client, and what the mode
    /// loses.
    static func lookingGlass(config: VMConfig, paths: VMPaths) -> [Finding] {
        let client = "looking-glass-client spice:host=\(paths.spiceSocket) spice:port=0"
        switch config.lookingGlassAgentOwner {
        case nil:
            return []
        case .clipd:
            return [.note("Looking Glass with clipd owning the guest's SPICE agent port ([clipboard] vdagent = true): run the client as `\(client) spice:clipboard=no`; SPICE carries its keyboard and mouse only, and the guest's clipboard syncs through clipd with this desktop and every paired machine whether or not the client runs")]
        case .spice:
            return [.note("Looking Glass with SPICE owning the guest's agent port ([clipboard] vdagent = false): run the client as `\(client)`; the guest's clipboard reaches this desktop only while the client runs (clipd then syncs this desktop with its peers), and clipd cannot reach the guest when it does not; set [clipboard] vdagent = true for clipd to hold the agent's port instead")]
        }
    }

    static func accelerator(config: VMConfig, host: HostTree) -> [Finding] {
        guard config.accel == .kvm else {
            return config.os == .windows ? [.warning("accel = \"tcg\" emulates the CPU: a Windows guest will be very slow, and the Hyper-V settings need KVM")] : []
        }
        var findings: [Finding] = []
        let flags = host.cpuFlags
        if !flags.contains("svm") && !flags.contains("vmx") {
            findings.append(.error("the CPU shows no virtualisation support (no svm or vmx flag in /proc/cpuinfo): enable SVM (AMD) or VT-x (Intel) in the firmware setup"))
        }
        if !host.exists("/dev/kvm") {
            let module = flags.contains("svm") ? "kvm_amd" : "kvm_intel"
            findings.append(.error("/dev/kvm is missing: load KVM (modprobe \(module)), or use accel = \"tcg\" (slow)"))
        } else if !host.readWritable("/dev/kvm") {
            findings.append(.error("/dev/kvm is not readable and writable for this user: add the user to the kvm group (usermod -aG kvm USER) and log in again"))
        }
        return findings
    }

    static func iommu(host: HostTree) -> [Finding] {
        let cmdline = host.kernelCommandLine
        var findings: [Finding] = []
        if host.iommuGroups().isEmpty {
            if let off = cmdline.first(where: { ["amd_iommu=off", "intel_iommu=off", "iommu=off"].contains($0) }) {
                findings.append(.error("the IOMMU is off: the kernel command line has \(off); remove it and reboot (vfio-pci cannot work without an IOMMU: it fails with \"probe of ... failed with error -22\")"))
            } else {
                findings.append(.error("the IOMMU is off (no IOMMU groups): enable AMD-Vi / VT-d in the firmware setup, add \(host.cpuFlags.contains("svm") ? "amd_iommu=on" : "intel_iommu=on") to the kernel command line and reboot; without it vfio-pci fails with error -22"))
            }
        }
        if cmdline.contains("iommu=pt") {
            findings.append(.note("iommu=pt is fine: the host's own devices skip IOMMU translation, and VFIO still isolates the ones passed through"))
        }
        return findings
    }

    static func devices(config: VMConfig, plan: PassthroughPlan, host: HostTree) -> [Finding] {
        var findings = plan.missingPCI.map { Finding.error("PCI device \($0) does not exist on this host: see `passvm devices` for the addresses") }
        guard !host.iommuGroups().isEmpty else { return findings }
        let configured = Set(config.pci)
        let configuredSlots = Set(config.pci.compactMap { PCIAddress($0)?.slotName })
        var ids: [String] = []
        for device in plan.functions {
            let name = "\(device.address) (\(device.kind) \(device.id))"
            let sameSlot = configuredSlots.contains(device.address.slotName)
            if !configured.contains(device.address.description) {
                if !sameSlot, let driver = device.driver, driver != "vfio-pci" {
                    // Another card in the group, in use by the host: the real obstacle.
                    findings.append(.error("IOMMU group \(device.iommuGroup ?? -1) also holds \(name), driver \(driver), which the host uses: a group can only go to the guest whole, so the host would lose it; move the card to a slot with its own group, or pass that device too (bind it to vfio-pci)"))
                    continue
                }
                findings.append(.note("\(name) shares IOMMU group \(device.iommuGroup ?? -1)\(sameSlot ? " and the slot" : "") with a configured device: it is passed too (a group goes to the guest whole)"))
            }
            switch device.driver {
            case "vfio-pci"?:
                break
            case let driver?:
                ids.append(device.id)
                findings.append(.error("\(name) is bound to \(driver), not vfio-pci: echo vfio-pci > /sys/bus/pci/devices/\(device.address)/driver_override, then unbind and reprobe it, or bind at boot (see the vfio-pci.ids note)"))
            case nil:
                ids.append(device.id)
                findings.append(.error("\(name) has no driver: echo vfio-pci > /sys/bus/pci/devices/\(device.address)/driver_override && echo \(device.address) > /sys/bus/pci/drivers_probe"))
            }
            if device.bootVGA {
                findings.append(.error("\(name) is the host's boot display (boot_vga = 1): the host's console and firmware use it; choose the other GPU as primary in the firmware setup, or give the host another GPU"))
            }
        }
        if !ids.isEmpty {
            findings.append(.note("to bind at boot, add vfio-pci.ids=\(ids.joined(separator: ",")) to the kernel command line (and load vfio-pci before the devices' own drivers)"))
        }
        for group in Set(plan.functions.compactMap(\.iommuGroup)).sorted() {
            let path = "/dev/vfio/\(group)"
            if !host.exists(path) {
                findings.append(.error("\(path) is missing: bind the group's devices to vfio-pci first"))
            } else if !host.readWritable(path) {
                findings.append(.error("\(path) is not readable and writable for this user: chown it, or add a udev rule (SUBSYSTEM==\"vfio\", OWNER=\"USER\")"))
            }
        }
        if !plan.functions.isEmpty && !host.exists("/dev/vfio/vfio") {
            findings.append(.error("/dev/vfio/vfio is missing: load the vfio-pci module (modprobe vfio-pci)"))
        }
        return findings
    }

    static func memoryLock(config: VMConfig, host: HostTree) -> [Finding] {
        guard let limit = host.memlockLimit, limit < config.memory else { return [] }
        return [.error("RLIMIT_MEMLOCK is \(limit >> 20) MiB but the guest has \(config.memory >> 20) MiB: VFIO pins all guest memory; raise it (ulimit -l unlimited, or a memlock line in /etc/security/limits.conf)")]
    }

    static func hugePages(config: VMConfig, host: HostTree) -> [Finding] {
        guard config.hugepages else { return [] }
        let free = host.freeHugePages()
        let available = free.reduce(UInt64(0)) { $0 + $1.key * $1.value }
        guard available < config.memory else { return [] }
        let pages = config.memory / (2 << 20)
        return [.error("hugepages = true but only \(available >> 20) MiB of huge pages are free for \(config.memory >> 20) MiB of guest memory: echo \(pages) > /proc/sys/vm/nr_hugepages (2 MiB pages)")]
    }

    static func usb(plan: PassthroughPlan, host: HostTree) -> [Finding] {
        var findings: [Finding] = []
        for (selector, matches) in plan.usb {
            guard let device = matches.first else {
                findings.append(.error("USB device \(selector) is not connected: see `passvm devices`"))
                continue
            }
            if matches.count > 1 {
                findings.append(.error("USB id \(selector) matches \(matches.count) devices (\(matches.map(\.port).joined(separator: ", "))): use port = \"...\" to pick one"))
                continue
            }
            if device.isHub {
                findings.append(.error("USB device \(selector) (\(device.name)) is a hub: pass the devices behind it instead"))
            } else if !host.readWritable(device.node) {
                findings.append(.error("\(device.node) (\(device.name)) is not readable and writable for this user: add a udev rule (SUBSYSTEM==\"usb\", ATTR{idVendor}==\"\(String(format: "%04x", device.vendor))\", ATTR{idProduct}==\"\(String(format: "%04x", device.product))\", OWNER=\"USER\")"))
            }
        }
        return findings
    }

    static func files(config: VMConfig, host: HostTree) -> [Finding] {
        var findings: [Finding] = []
        for (what, path) in [("firmware.code", config.firmwareCode), ("firmware.vars", config.firmwareVars)] {
            if let path, !host.exists(path) { findings.append(.error("\(what) \(path) does not exist: install OVMF (apt install ovmf) or fix the path")) }
        }
        for disk in config.disks where !host.exists(disk.path) {
            findings.append(.error("disk \(disk.path) does not exist: create it (qemu-img create -f \(disk.format) \(disk.path) 64G) or fix the path"))
        }
        if let boot = config.boot {
            for path in [boot.kernel] + (boot.initrd.map { [$0] } ?? []) where !host.exists(path) {
                findings.append(.error("boot file \(path) does not exist"))
            }
        }
        if config.tpm && !host.exists("/usr/bin/swtpm") {
            findings.append(.error("tpm = true needs swtpm: apt install swtpm"))
        }
        return findings
    }

    static func running(config: VMConfig, host: HostTree, paths: VMPaths) -> [Finding] {
        guard let text = host.read(paths.pidFile), let pid = Int32(text), host.processRunning(pid: pid, mentioning: config.name) else { return [] }
        return [.error("\(config.name) is already running (QEMU pid \(pid)): stop it first")]
    }
}
