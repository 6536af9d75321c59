import Foundation

/// The host as passvm sees it: every read of /sys, /proc and /dev goes through `root`, so
/// checks run the same on a live host (`/`) and on a captured tree (Tests/Fixtures).
///
/// Value type, no caching: each call reads the tree. Safe to use from any thread.
public struct HostTree: Sendable {
    public let root: String
    /// Whose access to device nodes is judged (default: this process).
    public var user: HostUser

    public init(root: String = "/", user: HostUser = .current) {
        self.root = root == "/" ? "" : (root.hasSuffix("/") ? String(root.dropLast()) : root)
        self.user = user
    }

    /// `path` (absolute on the host) inside the tree.
    public func path(_ path: String) -> String { root + path }

    public func read(_ path: String) -> String? {
        (try? String(contentsOfFile: self.path(path), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: self.path(path)) }

    public func list(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(directory))) ?? []).sorted()
    }

    /// The last component of a symlink's target (a driver's or a group's name).
    func linkName(_ path: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: self.path(path))).map { ($0 as NSString).lastPathComponent }
    }

    private func hex(_ path: String) -> UInt32? {
        guard let text = read(path) else { return nil }
        return UInt32(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16)
    }

    // MARK: PCI

    public func pciDevices() -> [PCIDevice] {
        list("/sys/bus/pci/devices").compactMap(pciDevice)
    }

    public func pciDevice(_ name: String) -> PCIDevice? {
        guard let address = PCIAddress(name) else { return nil }
        let base = "/sys/bus/pci/devices/\(address)"
        guard exists(base), let vendor = hex(base + "/vendor"), let device = hex(base + "/device") else { return nil }
        return PCIDevice(address: address, vendor: UInt16(truncatingIfNeeded: vendor), device: UInt16(truncatingIfNeeded: device),
                         classCode: hex(base + "/class") ?? 0, driver: linkName(base + "/driver"),
                         iommuGroup: linkName(base + "/iommu_group").flatMap { Int($0) }, bootVGA: read(base + "/boot_vga") == "1")
    }

    /// IOMMU group number to its members; empty when the IOMMU is off.
    public func iommuGroups() -> [Int: [PCIAddress]] {
        var groups: [Int: [PCIAddress]] = [:]
        for group in list("/sys/kernel/iommu_groups") {
            guard let number = Int(group) else { continue }
            groups[number] = list("/sys/kernel/iommu_groups/\(group)/devices").compactMap { PCIAddress($0) }.sorted()
        }
        return groups
    }

    // MARK: USB

    public func usbDevices() -> [USBDevice] {
        list("/sys/bus/usb/devices").compactMap { name in
            // Interfaces (`3-2:1.0`) have no idVendor; only devices do.
            let base = "/sys/bus/usb/devices/\(name)"
            guard !name.contains(":"), let vendor = hex(base + "/idVendor"), let product = hex(base + "/idProduct") else { return nil }
            let words = [read(base + "/manufacturer"), read(base + "/product")].compactMap { $0 }.filter { !$0.isEmpty }
            return USBDevice(port: name, vendor: UInt16(truncatingIfNeeded: vendor), product: UInt16(truncatingIfNeeded: product),
                             name: words.isEmpty ? "(no name)" : words.joined(separator: " "),
                             bus: Int(read(base + "/busnum") ?? "") ?? 0, number: Int(read(base + "/devnum") ?? "") ?? 0,
                             deviceClass: UInt8(truncatingIfNeeded: hex(base + "/bDeviceClass") ?? 0))
        }
    }

    // MARK: Kernel and limits

    public var kernelCommandLine: [String] { (read("/proc/cmdline") ?? "").split(separator: " ").map(String.init) }

    /// The first CPU's flags from /proc/cpuinfo.
    public var cpuFlags: Set<String> {
        for line in (read("/proc/cpuinfo") ?? "").split(separator: "\n") where line.hasPrefix("flags") {
            return Set(line.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
        }
        return []
    }

    /// The soft RLIMIT_MEMLOCK of this process in bytes, nil when unlimited (or unknown).
    public var memlockLimit: UInt64? {
        for line in (read("/proc/self/limits") ?? "").split(separator: "\n") where line.hasPrefix("Max locked memory") {
            let fields = line.dropFirst("Max locked memory".count).split(separator: " ")
            return fields.first.flatMap { UInt64($0) }
        }
        return nil
    }

    /// Free huge pages of each size (bytes per page to count).
    public func freeHugePages() -> [UInt64: UInt64] {
        var pages: [UInt64: UInt64] = [:]
        for directory in list("/sys/kernel/mm/hugepages") where directory.hasPrefix("hugepages-") && directory.hasSuffix("kB") {
            guard let kib = UInt64(directory.dropFirst("hugepages-".count).dropLast(2)),
                  let free = UInt64(read("/sys/kernel/mm/hugepages/\(directory)/free_hugepages") ?? "") else { continue }
            pages[kib * 1024] = free
        }
        return pages
    }

    /// Whether `user` may read and write the node at `path` (mode bits, as the kernel judges
    /// them without ACLs).
    public func readWritable(_ path: String) -> Bool {
        var status = stat()
        guard stat(self.path(path), &status) == 0 else { return false }
        if user.uid == 0 { return true }
        let mode = status.st_mode
        if status.st_uid == user.uid { return mode & 0o600 == 0o600 }
        if user.groups.contains(status.st_gid) { return mode & 0o060 == 0o060 }
        return mode & 0o006 == 0o006
    }

    /// A live process with this pid whose command line mentions `needle`.
    public func processRunning(pid: Int32, mentioning needle: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path("/proc/\(pid)/cmdline")) else { return false }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(needle)
    }
}

/// The user whose permissions passvm checks.
public struct HostUser: Sendable, Equatable {
    public let uid: uid_t
    public let groups: [gid_t]

    public init(uid: uid_t, groups: [gid_t]) {
        self.uid = uid
        self.groups = groups
    }

    public static var current: HostUser {
        var groups = [gid_t](repeating: 0, count: Int(getgroups(0, nil)))
        let count = getgroups(Int32(groups.count), &groups)
        return HostUser(uid: geteuid(), groups: [getegid()] + groups.prefix(Int(max(0, count))))
    }
}
