import ArgumentParser
import Foundation
import ClipControl
import PassthroughCore

@main
struct Passvm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passvm",
        abstract: "Check a VFIO host, build the QEMU command line of a passthrough VM, and run it with clipd's channel.",
        discussion: """
            A VM is one TOML file (README, "passvm"). `passvm devices` lists what can be \
            passed; `passvm check` says what stands in the way and how to fix it; `passvm \
            args` prints the QEMU command line; `passvm run` checks, starts QEMU and attaches \
            the running clipd daemon to the VM's channel.
            """,
        version: ClipdVersion.current,
        subcommands: [Check.self, Args.self, Run.self, Hold.self, Devices.self])
}

/// Options every subcommand that reads a VM config shares.
struct VMOptions: ParsableArguments {
    @Option(help: "Read /sys, /proc and /dev under DIR instead of / (captured host trees).")
    var root = "/"

    @Option(name: .customLong("runtime-dir"), help: "Sockets and pid file (default: $XDG_RUNTIME_DIR/passvm/NAME).")
    var runtimeDirectory: String?

    @Option(name: .customLong("state-dir"), help: "The VM's firmware variables and TPM state (default: ~/.local/state/passvm/NAME).")
    var stateDirectory: String?

    @Argument(help: "The VM's config file (TOML).")
    var config: String

    func load() throws -> (VMConfig, HostTree, VMPaths) {
        let vm: VMConfig
        do { vm = try VMConfig.load(path: config) } catch let error as PassvmError { throw fail(error.description, code: 2) }
        let environment = ProcessInfo.processInfo.environment
        let runtimeBase = environment["XDG_RUNTIME_DIR"].map { $0 + "/passvm" } ?? VMPaths.sharedRuntimeBase
        let stateBase = environment["XDG_STATE_HOME"] ?? ((environment["HOME"] ?? "/root") + "/.local/state")
        let paths = VMPaths(runtime: runtimeDirectory ?? "\(runtimeBase)/\(vm.name)",
                            state: stateDirectory ?? "\(stateBase)/passvm/\(vm.name)")
        return (vm, HostTree(root: root), paths)
    }
}

/// Prints the findings, one line each, errors first in their check order; true when none is
/// an error.
func report(_ findings: [Finding]) -> Bool {
    for finding in findings {
        FileHandle.standardError.write(Data((finding.description + "\n").utf8))
    }
    return !findings.contains { $0.severity == .error }
}

/// Prints `passvm: message` on standard error and exits with `code`.
func fail(_ message: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("passvm: \(message)\n".utf8))
    return ExitCode(code)
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the host for the VM: one line per finding with its fix; exit 1 on any error.")

    @OptionGroup var options: VMOptions

    func run() throws {
        let (vm, host, paths) = try options.load()
        let findings = HostChecks.run(config: vm, host: host, paths: paths)
        guard report(findings) else { throw ExitCode(1) }
        print("\(vm.name): ready to start (\(findings.count == 0 ? "no findings" : "\(findings.count) notes or warnings above"))")
    }
}

struct Args: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the VM's QEMU command line, one argument per line.")

    @OptionGroup var options: VMOptions

    func run() throws {
        let (vm, host, paths) = try options.load()
        let arguments = QEMUCommand.arguments(config: vm, plan: PassthroughPlan(config: vm, host: host), paths: paths)
        FileHandle.standardOutput.write(Data((arguments.joined(separator: "\n") + "\n").utf8))
    }
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List IOMMU groups with their PCI devices, and USB devices, as config lines.")

    @Option(help: "Read /sys under DIR instead of / (captured host trees).")
    var root = "/"

    func run() throws {
        let host = HostTree(root: root)
        let groups = host.iommuGroups()
        let devices = host.pciDevices()
        var out: [String] = []
        if groups.isEmpty {
            out.append("# no IOMMU groups: the IOMMU is off (see `passvm check`)")
            for device in devices { out.append(line(device)) }
        }
        for group in groups.keys.sorted() {
            out.append("# IOMMU group \(group)")
            for address in groups[group]! {
                if let device = devices.first(where: { $0.address == address }) { out.append(line(device)) }
            }
        }
        out.append("")
        out.append("# USB devices")
        for device in host.usbDevices() {
            let note = device.isHub ? " (hub: pass the devices behind it)" : ""
            out.append("[[usb]]  # \(device.name) at port \(device.port)\(note)")
            out.append("id = \"\(device.id)\"  # or: port = \"\(device.port)\"")
        }
        print(out.joined(separator: "\n"))
    }

    private func line(_ device: PCIDevice) -> String {
        let about = "\(device.id) \(device.kind), driver \(device.driver ?? "none")\(device.bootVGA ? ", host boot display" : "")"
        return device.isBridge ? "# \(device.address)  \(about) (stays with the host)" : "[[pci]]  # \(about)\naddress = \"\(device.address)\""
    }
}
