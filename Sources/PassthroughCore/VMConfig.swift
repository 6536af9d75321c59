import Foundation
import ClipTOML

/// One VM as its TOML file describes it (README, "passvm"). Immutable once read.
public struct VMConfig: Sendable, Equatable {
    public enum Accelerator: String, Sendable { case kvm, tcg }
    public enum GuestOS: String, Sendable { case windows, linux, other }

    public struct Disk: Sendable, Equatable {
        public var path: String
        public var format: String
        public var interface: String
    }

    /// A USB device by vendor:product id or by its bus-port path (`3-2.1`).
    public enum USBSelector: Sendable, Equatable, CustomStringConvertible {
        case id(vendor: UInt16, product: UInt16)
        case port(String)

        public var description: String {
            switch self {
            case .id(let vendor, let product): String(format: "%04x:%04x", vendor, product)
            case .port(let port): "port \(port)"
            }
        }
    }

    public struct LookingGlass: Sendable, Equatable {
        public var size: UInt64
        public var path: String
    }

    /// Who owns the guest's SPICE agent port when Looking Glass is on: only one party can.
    public enum AgentOwner: Sendable, Equatable {
        /// QEMU's SPICE server (`vdagent = false`): Looking Glass's client carries the
        /// guest's clipboard to this desktop while it runs.
        case spice
        /// clipd, through passvm's port holder (`vdagent = true`): SPICE carries only
        /// Looking Glass's keyboard and mouse.
        case clipd
    }

    /// The agent port's owner in a Looking Glass VM; nil without Looking Glass.
    public var lookingGlassAgentOwner: AgentOwner? {
        lookingGlass == nil ? nil : (vdagent ? .clipd : .spice)
    }

    public struct DirectBoot: Sendable, Equatable {
        public var kernel: String
        public var initrd: String?
        public var append: String?
    }

    public var name: String
    /// Guest RAM in bytes.
    public var memory: UInt64
    public var cpus: Int
    public var machine = "q35"
    public var accel = Accelerator.kvm
    public var os = GuestOS.linux
    public var hugepages = false
    public var firmwareCode: String?
    public var firmwareVars: String?
    public var disks: [Disk] = []
    /// PCI addresses as written, normalised to `0000:01:00.0`.
    public var pci: [String] = []
    public var usb: [USBSelector] = []
    /// The virtio-serial port for clipd; nil turns the channel off.
    public var clipboardChannel: String? = "org.clipd.0"
    public var vdagent = false
    public var lookingGlass: LookingGlass?
    public var boot: DirectBoot?
    public var tpm = false
    public var extraArguments: [String] = []

    public init(name: String, memory: UInt64, cpus: Int) {
        self.name = name
        self.memory = memory
        self.cpus = cpus
    }

    /// Reads a config file; every problem is one line naming the file and the key.
    public static func load(path: String) throws -> VMConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw PassvmError("cannot read \(path): no such file, no permission, or not UTF-8")
        }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String) throws -> VMConfig {
        let table: TOMLTable
        do {
            table = try TOMLParser.parse(text)
        } catch {
            throw PassvmError("invalid \(source): \(error.description)")
        }
        return try ConfigReader(table: table, source: source, prefix: "").vmConfig()
    }
}

/// The VM config's vocabulary, checked key by key.
private struct ConfigReader {
    let table: TOMLTable
    let source: String
    let prefix: String

    func fail(_ key: String, _ problem: String) -> PassvmError {
        PassvmError("invalid \(source): \(prefix)\(key) \(problem)")
    }

    func only(_ keys: Set<String>) throws {
        for key in table.keys where !keys.contains(key) {
            throw PassvmError("invalid \(source): unknown key '\(prefix)\(key)' (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    func string(_ key: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let text = value.string else { throw fail(key, "must be a string") }
        return text
    }

    func requiredString(_ key: String) throws -> String {
        guard let text = try string(key), !text.isEmpty else { throw fail(key, "is required") }
        return text
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = table[key] else { return nil }
        guard let flag = value.bool else { throw fail(key, "must be true or false") }
        return flag
    }

    func size(_ key: String) throws -> UInt64? {
        guard let value = table[key] else { return nil }
        if let number = value.int, number > 0 { return UInt64(number) << 20 }  // a bare number is MiB, as in QEMU
        guard let text = value.string, let bytes = QEMUSize.parse(text) else { throw fail(key, "must be a size like \"16G\" or \"8192M\"") }
        return bytes
    }

    func tables(_ key: String) throws -> [ConfigReader] {
        guard let value = table[key] else { return [] }
        guard let array = value.array else { throw fail(key, "must be written [[\(key)]]") }
        return try array.enumerated().map { index, element in
            guard let entry = element.table else { throw fail(key, "must be written [[\(key)]]") }
            return ConfigReader(table: entry, source: source, prefix: "\(key)[\(index + 1)].")
        }
    }

    func subtable(_ key: String) throws -> ConfigReader? {
        guard let value = table[key] else { return nil }
        guard let entry = value.table else { throw fail(key, "must be a [\(key)] table") }
        return ConfigReader(table: entry, source: source, prefix: "\(key).")
    }

    func vmConfig() throws -> VMConfig {
        try only(["name", "memory", "cpus", "machine", "accel", "os", "hugepages", "firmware", "disk", "pci", "usb",
                  "clipboard", "display", "boot", "tpm", "extra"])
        let name = try requiredString("name")
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw fail("name", "may hold only letters, digits, '-', '_' and '.' (it names files and sockets)")
        }
        guard let memory = try size("memory") else { throw fail("memory", "is required (e.g. memory = \"8G\")") }
        let cpus = table["cpus"].map { $0.int } ?? 2
        guard let cpus, cpus >= 1, cpus <= 1024 else { throw fail("cpus", "must be a whole number from 1 to 1024") }
        var config = VMConfig(name: name, memory: memory, cpus: cpus)
        if let machine = try string("machine") { config.machine = machine }
        if let accel = try string("accel") {
            guard let value = VMConfig.Accelerator(rawValue: accel) else { throw fail("accel", "must be kvm or tcg") }
            config.accel = value
        }
        if let os = try string("os") {
            guard let value = VMConfig.GuestOS(rawValue: os) else { throw fail("os", "must be windows, linux or other") }
            config.os = value
        }
        config.hugepages = try bool("hugepages") ?? false
        config.tpm = try bool("tpm") ?? false
        if let firmware = try subtable("firmware") {
            try firmware.only(["code", "vars"])
            config.firmwareCode = try firmware.string("code")
            config.firmwareVars = try firmware.string("vars")
            if config.firmwareVars != nil && config.firmwareCode == nil { throw firmware.fail("code", "is required with firmware.vars") }
        }
        for disk in try tables("disk") {
            try disk.only(["path", "format", "interface"])
            let path = try disk.requiredString("path")
            let format = try disk.string("format") ?? (path.hasSuffix(".qcow2") ? "qcow2" : "raw")
            let interface = try disk.string("interface") ?? "virtio"
            guard ["virtio", "nvme", "sata"].contains(interface) else { throw disk.fail("interface", "must be virtio, nvme or sata") }
            config.disks.append(.init(path: path, format: format, interface: interface))
        }
        for device in try tables("pci") {
            try device.only(["address"])
            let text = try device.requiredString("address")
            guard let address = PCIAddress(text) else { throw device.fail("address", "must look like 0000:01:00.0 or 01:00.0 (see `passvm devices`)") }
            config.pci.append(address.description)
        }
        for device in try tables("usb") {
            try device.only(["id", "port"])
            switch (try device.string("id"), try device.string("port")) {
            case (let id?, nil):
                let parts = id.split(separator: ":")
                guard parts.count == 2, let vendor = UInt16(parts[0], radix: 16), let product = UInt16(parts[1], radix: 16) else {
                    throw device.fail("id", "must be VVVV:PPPP in hex, as `lsusb` and `passvm devices` print it")
                }
                config.usb.append(.id(vendor: vendor, product: product))
            case (nil, let port?):
                guard port.range(of: #"^[0-9]+-[0-9]+(\.[0-9]+)*$"#, options: .regularExpression) != nil else {
                    throw device.fail("port", "must be a bus-port path like 3-2.1 (see `passvm devices`)")
                }
                config.usb.append(.port(port))
            default:
                throw device.fail("id", "or port is required, not both")
            }
        }
        if let clipboard = try subtable("clipboard") {
            try clipboard.only(["channel", "vdagent"])
            if let channel = try clipboard.string("channel") { config.clipboardChannel = channel.isEmpty ? nil : channel }
            config.vdagent = try clipboard.bool("vdagent") ?? false
        }
        if let display = try subtable("display") {
            try display.only(["looking_glass", "size", "path"])
            if try display.bool("looking_glass") ?? false {
                config.lookingGlass = .init(size: try display.size("size") ?? (64 << 20),
                                            path: try display.string("path") ?? "/dev/shm/looking-glass")
            }
        }
        if let boot = try subtable("boot") {
            try boot.only(["kernel", "initrd", "append"])
            config.boot = .init(kernel: try boot.requiredString("kernel"), initrd: try boot.string("initrd"), append: try boot.string("append"))
        }
        if let extra = table["extra"] {
            guard let list = extra.array?.compactMap({ $0.string }), list.count == extra.array?.count else {
                throw fail("extra", "must be a list of strings (raw QEMU arguments)")
            }
            config.extraArguments = list
        }
        return config
    }
}

/// QEMU's size syntax: a number with an optional K, M, G or T suffix (powers of 1024); a
/// bare number is MiB.
public enum QEMUSize {
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        guard let number = UInt64(digits), number > 0 else { return nil }
        let shift: UInt64
        switch trimmed.dropFirst(digits.count).uppercased() {
        case "", "M", "MB", "MIB": shift = 20
        case "K", "KB", "KIB": shift = 10
        case "G", "GB", "GIB": shift = 30
        case "T", "TB", "TIB": shift = 40
        default: return nil
        }
        guard number < (UInt64(1) << (63 - shift)) else { return nil }
        return number << shift
    }

    /// The value QEMU's `-m` takes: whole MiB, or G when exact.
    public static func argument(_ bytes: UInt64) -> String {
        bytes % (1 << 30) == 0 ? "\(bytes >> 30)G" : "\(bytes >> 20)M"
    }
}

/// A one-line message for people, with what to do.
public struct PassvmError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
