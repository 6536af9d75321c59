/// Where a VM's files live: sockets and the pid file in a runtime directory, the per-VM
/// copy of the firmware variables in a state directory.
public struct VMPaths: Sendable, Equatable {
    public let runtime: String
    public let state: String

    public init(runtime: String, state: String) {
        self.runtime = runtime
        self.state = state
    }

    public var qmpSocket: String { runtime + "/qmp.sock" }
    public var clipdSocket: String { runtime + "/clipd.sock" }
    /// QEMU's end of the SPICE agent's port (QEMU listens; the port holder connects).
    public var vdagentSocket: String { runtime + "/vdagent.sock" }
    /// The port holder's socket, which clipd attaches to (`--vdagent unix:PATH`).
    public var agentHolderSocket: String { runtime + "/vdagent-holder.sock" }
    public var swtpmSocket: String { runtime + "/swtpm.sock" }
    /// QEMU's SPICE server for Looking Glass's client (`spice:host=PATH spice:port=0`).
    public var spiceSocket: String { runtime + "/spice.sock" }
    public var pidFile: String { runtime + "/qemu.pid" }
    public var firmwareVars: String { state + "/OVMF_VARS.fd" }
    public var tpmState: String { state + "/tpm" }
}

/// The QEMU command line for a VM. Pure: the same config, plan and paths give the same
/// arguments (the golden files in Tests/PassthroughCoreTests hold them).
public enum QEMUCommand {
    public static let binary = "qemu-system-x86_64"

    /// The Hyper-V enlightenments that keep an idle Windows guest idle, dependencies first
    /// (hv-synic needs hv-vpindex; hv-stimer needs hv-synic and hv-time; hv-tlbflush and
    /// hv-ipi need hv-vpindex).
    public static let hyperV = ["hv-relaxed", "hv-vapic", "hv-spinlocks=0x1fff", "hv-vpindex", "hv-runtime", "hv-time",
                                "hv-synic", "hv-stimer", "hv-frequencies", "hv-tlbflush", "hv-ipi"]

    public static func arguments(config: VMConfig, plan: PassthroughPlan, paths: VMPaths) -> [String] {
        var args = [binary, "-name", "\(config.name),debug-threads=on"]
        var machine = "\(config.machine),accel=\(config.accel.rawValue)"
        if config.os == .windows { machine += ",hpet=off" }
        if config.hugepages { machine += ",memory-backend=ram" }
        args += ["-machine", machine]
        switch (config.accel, config.os) {
        case (.kvm, .windows): args += ["-cpu", (["host"] + hyperV).joined(separator: ",")]
        case (.kvm, _): args += ["-cpu", "host"]
        case (.tcg, _): args += ["-cpu", "max"]
        }
        args += ["-smp", "\(config.cpus)", "-m", QEMUSize.argument(config.memory)]
        if config.hugepages {
            args += ["-object", "memory-backend-file,id=ram,size=\(QEMUSize.argument(config.memory)),mem-path=/dev/hugepages,share=on,prealloc=on"]
        }
        args += ["-nodefaults", "-no-user-config", "-display", "none",
                 "-pidfile", paths.pidFile, "-qmp", "unix:\(paths.qmpSocket),server=on,wait=off"]
        if config.os == .windows {
            args += ["-rtc", "base=localtime,driftfix=slew"]
            if config.accel == .kvm { args += ["-global", "kvm-pit.lost_tick_policy=discard"] }
        }
        if let code = config.firmwareCode {
            args += ["-drive", "if=pflash,format=raw,readonly=on,file=\(code)"]
            if config.firmwareVars != nil { args += ["-drive", "if=pflash,format=raw,file=\(paths.firmwareVars)"] }
        }
        if let boot = config.boot {
            args += ["-kernel", boot.kernel]
            if let initrd = boot.initrd { args += ["-initrd", initrd] }
            if let append = boot.append { args += ["-append", append] }
        }
        for (index, disk) in config.disks.enumerated() {
            switch disk.interface {
            case "nvme":
                args += ["-drive", "file=\(disk.path),format=\(disk.format),if=none,id=disk\(index)",
                         "-device", "nvme,drive=disk\(index),serial=disk\(index)"]
            case "sata":
                args += ["-drive", "file=\(disk.path),format=\(disk.format),if=none,id=disk\(index)",
                         "-device", "ide-hd,drive=disk\(index),bus=ide.\(index)"]
            default:
                args += ["-drive", "file=\(disk.path),format=\(disk.format),if=virtio"]
            }
        }
        for (index, slot) in plan.slots.enumerated() {
            let port = "rp\(index + 1)"
            args += ["-device", "pcie-root-port,id=\(port),chassis=\(index + 1),slot=\(index + 1),bus=pcie.0"]
            for device in slot {
                var value = "vfio-pci,host=\(device.address),bus=\(port),addr=00.\(device.address.function)"
                if device.address.function == 0 && slot.count > 1 { value += ",multifunction=on" }
                args += ["-device", value]
            }
        }
        if plan.functions.contains(where: \.isDisplay) { args += ["-vga", "none"] }
        if !plan.usb.isEmpty {
            args += ["-device", "qemu-xhci,id=xhci"]
            for (selector, _) in plan.usb {
                switch selector {
                case .id(let vendor, let product):
                    args += ["-device", "usb-host,bus=xhci.0,vendorid=0x\(hex4(vendor)),productid=0x\(hex4(product))"]
                case .port(let port):
                    let parts = port.split(separator: "-", maxSplits: 1)
                    args += ["-device", "usb-host,bus=xhci.0,hostbus=\(parts[0]),hostport=\(parts[1])"]
                }
            }
        }
        if config.clipboardChannel != nil || config.vdagent || config.lookingGlassAgentOwner == .spice {
            args += ["-device", "virtio-serial-pci,id=vser"]
        }
        if let channel = config.clipboardChannel {
            args += ["-chardev", "socket,id=clipd,path=\(paths.clipdSocket),server=on,wait=off",
                     "-device", "virtserialport,bus=vser.0,chardev=clipd,id=clipdport,name=\(channel)"]
        }
        if config.vdagent {
            // wait=on: QEMU runs the guest only once the port holder is connected, so the
            // Windows agent never meets a disconnected host end (README, "The agent's port").
            args += ["-chardev", "socket,id=vdagent,path=\(paths.vdagentSocket),server=on,wait=on",
                     "-device", "virtserialport,bus=vser.0,chardev=vdagent,id=vdagentport,name=com.redhat.spice.0"]
        }
        if let glass = config.lookingGlass {
            args += ["-object", "memory-backend-file,id=looking-glass,share=on,mem-path=\(glass.path),size=\(QEMUSize.argument(glass.size))",
                     "-device", "ivshmem-plain,memdev=looking-glass"]
            // SPICE for the client's keyboard and mouse; the agent's port too when SPICE
            // owns it (with vdagent = true clipd's holder has it, above).
            args += ["-spice", "unix=on,addr=\(paths.spiceSocket),disable-ticketing=on"]
            if config.lookingGlassAgentOwner == .spice {
                args += ["-chardev", "spicevmc,id=spicevmc,name=vdagent",
                         "-device", "virtserialport,bus=vser.0,chardev=spicevmc,name=com.redhat.spice.0"]
            }
        }
        if config.tpm {
            args += ["-chardev", "socket,id=tpm,path=\(paths.swtpmSocket)", "-tpmdev", "emulator,id=tpm0,chardev=tpm",
                     "-device", "tpm-tis,tpmdev=tpm0"]
        }
        return args + config.extraArguments
    }

    private static func hex4(_ value: UInt16) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 4 - text.count) + text
    }
}
