import Foundation

/// A PCI function's address, `domain:bus:slot.function` (`0000:01:00.0`).
public struct PCIAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let domain: UInt16
    public let bus: UInt8
    public let slot: UInt8
    public let function: UInt8

    /// Accepts `0000:01:00.0` and the short `01:00.0`.
    public init?(_ text: String) {
        let parts = text.lowercased().split(separator: ":")
        let head = parts.count == 3 ? parts[0] : "0000"
        guard parts.count == 2 || parts.count == 3, let domain = UInt16(head, radix: 16) else { return nil }
        let busText = parts[parts.count - 2]
        let slotFunction = parts[parts.count - 1].split(separator: ".")
        guard slotFunction.count == 2, busText.count == 2, slotFunction[0].count == 2, slotFunction[1].count == 1,
              let bus = UInt8(busText, radix: 16), let slot = UInt8(slotFunction[0], radix: 16), slot < 32,
              let function = UInt8(slotFunction[1], radix: 16), function < 8
        else { return nil }
        (self.domain, self.bus, self.slot, self.function) = (domain, bus, slot, function)
    }

    public var description: String { String(format: "%04x:%02x:%02x.%x", domain, bus, slot, function) }
    /// The slot the function belongs to (`0000:01:00`).
    public var slotName: String { String(format: "%04x:%02x:%02x", domain, bus, slot) }

    public static func < (a: PCIAddress, b: PCIAddress) -> Bool {
        (a.domain, a.bus, a.slot, a.function) < (b.domain, b.bus, b.slot, b.function)
    }
}

/// A PCI function as sysfs shows it.
public struct PCIDevice: Sendable, Equatable {
    public let address: PCIAddress
    public let vendor: UInt16
    public let device: UInt16
    /// Class, subclass and programming interface (`0x030000` is a VGA controller).
    public let classCode: UInt32
    public let driver: String?
    public let iommuGroup: Int?
    /// The firmware showed its boot screen on this device (`boot_vga` = 1).
    public let bootVGA: Bool

    public var id: String { String(format: "%04x:%04x", vendor, device) }
    public var isBridge: Bool { classCode >> 16 == 0x06 }
    public var isDisplay: Bool { classCode >> 16 == 0x03 }

    /// What kind of device this is, in words.
    public var kind: String {
        switch classCode >> 8 {
        case 0x0300: return "VGA controller"
        case 0x0302: return "3D controller"
        case 0x0403: return "HDMI/audio device"
        case 0x0200: return "Ethernet controller"
        case 0x0280: return "network controller"
        case 0x0c03: return "USB controller"
        case 0x0108: return "NVMe controller"
        case 0x0106: return "SATA controller"
        case 0x0604: return "PCI bridge"
        case 0x0600: return "host bridge"
        default: return String(format: "class %06x", classCode)
        }
    }
}

/// A USB device as /sys/bus/usb/devices shows it.
public struct USBDevice: Sendable, Equatable {
    /// The bus-port path, e.g. `3-2.1` (sysfs' name for it; `usb3` for a root hub).
    public let port: String
    public let vendor: UInt16
    public let product: UInt16
    public let name: String
    public let bus: Int
    public let number: Int
    public let deviceClass: UInt8

    public var id: String { String(format: "%04x:%04x", vendor, product) }
    public var isHub: Bool { deviceClass == 0x09 }
    /// The device node QEMU opens.
    public var node: String { String(format: "/dev/bus/usb/%03d/%03d", bus, number) }
}
