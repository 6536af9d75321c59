/// What a VM takes from the host: the PCI functions (each configured device's whole IOMMU
/// group, bridges left out, grouped by physical slot) and the USB devices, resolved
/// against the host tree. Pure: built from a config and a tree.
public struct PassthroughPlan: Sendable {
    /// One entry per physical slot, functions in order; each becomes one guest slot.
    public var slots: [[PCIDevice]] = []
    /// Configured addresses the host does not have.
    public var missingPCI: [String] = []
    /// Configured USB selectors with the devices they match (zero, one or more).
    public var usb: [(selector: VMConfig.USBSelector, matches: [USBDevice])] = []

    public var functions: [PCIDevice] { slots.flatMap { $0 } }

    public init(config: VMConfig, host: HostTree) {
        let groups = host.iommuGroups()
        var chosen: [PCIAddress: PCIDevice] = [:]
        for text in config.pci {
            guard let device = host.pciDevice(text) else {
                missingPCI.append(text)
                continue
            }
            chosen[device.address] = device
            // A group goes to the guest whole: its other endpoints come along.
            for member in device.iommuGroup.flatMap({ groups[$0] }) ?? [] where chosen[member] == nil {
                if let other = host.pciDevice(member.description), !other.isBridge { chosen[member] = other }
            }
        }
        var bySlot: [String: [PCIDevice]] = [:]
        for device in chosen.values { bySlot[device.address.slotName, default: []].append(device) }
        slots = bySlot.keys.sorted().map { bySlot[$0]!.sorted { $0.address < $1.address } }
        let devices = host.usbDevices()
        usb = config.usb.map { selector in
            switch selector {
            case .id(let vendor, let product): (selector, devices.filter { $0.vendor == vendor && $0.product == product })
            case .port(let port): (selector, devices.filter { $0.port == port })
            }
        }
    }
}
