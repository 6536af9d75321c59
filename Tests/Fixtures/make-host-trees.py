#!/usr/bin/env python3
"""Writes the captured host trees passvm's tests read (Tests/Fixtures/hosts/NAME).

Each tree copies the layout of a real host's /sys, /proc and /dev for what passvm reads:
PCI functions under /sys/devices with the /sys/bus/pci/devices and
/sys/kernel/iommu_groups links pointing at them, driver links, USB devices, the kernel
command line, CPU flags, limits, huge pages, and device nodes (plain files here).
Run it again after changing it; the output is committed.
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTS = os.path.join(HERE, "hosts")


def write(root, path, text):
    full = root + path
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def link(root, path, target):
    full = root + path
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def relative(from_path, to_path):
    return os.path.relpath(to_path, os.path.dirname(from_path))


def pci(root, parent, address, vendor, device, cls, driver=None, group=None, boot_vga=None):
    """A PCI function below `parent` (a path under /sys/devices)."""
    dev = f"{parent}/{address}"
    write(root, f"{dev}/vendor", f"0x{vendor:04x}\n")
    write(root, f"{dev}/device", f"0x{device:04x}\n")
    write(root, f"{dev}/class", f"0x{cls:06x}\n")
    write(root, f"{dev}/driver_override", "(null)\n")
    if boot_vga is not None:
        write(root, f"{dev}/boot_vga", f"{boot_vga}\n")
    if driver:
        os.makedirs(root + f"/sys/bus/pci/drivers/{driver}", exist_ok=True)
        link(root, f"{dev}/driver", relative(f"{dev}/driver", f"/sys/bus/pci/drivers/{driver}"))
    if group is not None:
        link(root, f"{dev}/iommu_group", relative(f"{dev}/iommu_group", f"/sys/kernel/iommu_groups/{group}"))
        member = f"/sys/kernel/iommu_groups/{group}/devices/{address}"
        link(root, member, relative(member, dev))
    entry = f"/sys/bus/pci/devices/{address}"
    link(root, entry, relative(entry, dev))
    return dev


def usb(root, controller, name, vendor, product, manufacturer, product_name, bus, number, cls=0):
    # Devices nest below the hubs they hang off: usb3/3-1/3-1.2.
    dev = f"{controller}/usb{bus}"
    if name != f"usb{bus}":
        head, _, tail = name.partition("-")
        hops = tail.split(".")
        for depth in range(1, len(hops) + 1):
            dev += f"/{head}-{'.'.join(hops[:depth])}"
    for key, value in [("idVendor", f"{vendor:04x}"), ("idProduct", f"{product:04x}"), ("manufacturer", manufacturer),
                       ("product", product_name), ("busnum", str(bus)), ("devnum", str(number)), ("bDeviceClass", f"{cls:02x}")]:
        write(root, f"{dev}/{key}", value + "\n")
    entry = f"/sys/bus/usb/devices/{name}"
    link(root, entry, relative(entry, dev))
    write(root, f"/dev/bus/usb/{bus:03d}/{number:03d}", "")
    if name != f"usb{bus}":  # an interface directory, as real devices have
        write(root, f"{dev}/{name}:1.0/bInterfaceClass", "03\n")
        iface = f"/sys/bus/usb/devices/{name}:1.0"
        link(root, iface, relative(iface, f"{dev}/{name}:1.0"))


def common(root, cmdline, flags="fpu vme de pse tsc msr pae mce svm npt", memlock="unlimited"):
    write(root, "/proc/cmdline", cmdline + "\n")
    write(root, "/proc/cpuinfo", f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\n\n")
    limit = memlock if memlock == "unlimited" else str(memlock)
    write(root, "/proc/self/limits", "Limit                     Soft Limit           Hard Limit           Units     \n"
          f"Max locked memory         {limit:<20} {limit:<20} bytes     \n")
    write(root, "/dev/kvm", "")
    write(root, "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0\n")
    write(root, "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "0\n")
    write(root, "/usr/share/OVMF/OVMF_CODE_4M.fd", "")
    write(root, "/usr/share/OVMF/OVMF_VARS_4M.fd", "")


def usb_set(root, controller):
    usb(root, controller, "usb3", 0x1d6b, 0x0002, "Linux Foundation", "2.0 root hub", 3, 1, cls=9)
    usb(root, controller, "3-1", 0x05e3, 0x0610, "Genesys Logic", "Hub", 3, 2, cls=9)
    usb(root, controller, "3-1.2", 0x046d, 0xc52b, "Logitech", "USB Receiver", 3, 4)
    usb(root, controller, "3-2", 0x046d, 0xc52b, "Logitech", "USB Receiver", 3, 3)
    usb(root, controller, "3-3", 0x1050, 0x0407, "Yubico", "YubiKey OTP+FIDO+CCID", 3, 5)


def gpu_audio_group(root):
    """A desktop with an iGPU for the host and a discrete GPU whose HDMI audio shares its
    IOMMU group (and slot); the GPU is on vfio-pci, the audio still on snd_hda_intel."""
    common(root, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=2b1c ro quiet amd_iommu=on iommu=pt")
    top = "/sys/devices/pci0000:00"
    pci(root, top, "0000:00:00.0", 0x1022, 0x14d8, 0x060000, group=0)
    pci(root, top, "0000:00:02.0", 0x8086, 0x4680, 0x030000, driver="i915", group=2, boot_vga=1)
    port = pci(root, top, "0000:00:01.1", 0x1022, 0x14db, 0x060400, driver="pcieport", group=14)
    pci(root, port, "0000:01:00.0", 0x10de, 0x2484, 0x030000, driver="vfio-pci", group=14, boot_vga=0)
    pci(root, port, "0000:01:00.1", 0x10de, 0x228b, 0x040300, driver="snd_hda_intel", group=14)
    pci(root, top, "0000:00:14.0", 0x1022, 0x15b6, 0x0c0330, driver="xhci_hcd", group=5)
    write(root, "/dev/vfio/vfio", "")
    write(root, "/dev/vfio/14", "")
    usb_set(root, top + "/0000:00:14.0")
    for path in ["/var/lib/vms/win11.qcow2", "/srv/guest/vmlinuz", "/srv/guest/initramfs.cpio"]:
        write(root, path, "")


def shared_nic_group(root):
    """A board whose chipset slot puts the GPU in one IOMMU group with the onboard NIC."""
    common(root, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=2b1c ro amd_iommu=on", memlock=65536 * 1024)
    top = "/sys/devices/pci0000:00"
    pci(root, top, "0000:00:00.0", 0x1022, 0x1480, 0x060000, group=0)
    chipset = pci(root, top, "0000:00:01.2", 0x1022, 0x1483, 0x060400, driver="pcieport", group=12)
    pci(root, chipset, "0000:0a:00.0", 0x1002, 0x73bf, 0x030000, driver="vfio-pci", group=12, boot_vga=0)
    pci(root, chipset, "0000:0a:00.1", 0x1002, 0xab28, 0x040300, driver="vfio-pci", group=12)
    pci(root, chipset, "0000:0b:00.0", 0x8086, 0x1539, 0x020000, driver="igb", group=12)
    pci(root, top, "0000:00:03.0", 0x1002, 0x164e, 0x030000, driver="amdgpu", group=3, boot_vga=1)
    write(root, "/dev/vfio/vfio", "")
    write(root, "/dev/vfio/12", "")
    usb_set(root, top + "/0000:00:08.1")
    write(root, "/var/lib/vms/shared.img", "")


def iommu_off(root):
    """The IOMMU switched off on the command line: no groups, so vfio-pci fails with -22."""
    common(root, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=2b1c ro quiet amd_iommu=off")
    os.makedirs(root + "/sys/kernel/iommu_groups", exist_ok=True)
    top = "/sys/devices/pci0000:00"
    pci(root, top, "0000:00:00.0", 0x1022, 0x14d8, 0x060000)
    port = pci(root, top, "0000:00:01.1", 0x1022, 0x14db, 0x060400, driver="pcieport")
    pci(root, port, "0000:01:00.0", 0x10de, 0x2484, 0x030000, driver="nouveau", boot_vga=1)
    pci(root, port, "0000:01:00.1", 0x10de, 0x228b, 0x040300, driver="snd_hda_intel")
    usb_set(root, top + "/0000:00:14.0")


def no_virtualisation(root):
    """SVM switched off in the firmware: no flag, no /dev/kvm."""
    common(root, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=2b1c ro", flags="fpu vme de pse tsc msr pae mce")
    os.remove(root + "/dev/kvm")
    os.makedirs(root + "/sys/kernel/iommu_groups", exist_ok=True)


def main():
    shutil.rmtree(HOSTS, ignore_errors=True)
    for name, build in [("gpu-audio-group", gpu_audio_group), ("shared-nic-group", shared_nic_group),
                        ("iommu-off", iommu_off), ("no-virtualisation", no_virtualisation)]:
        root = os.path.join(HOSTS, name)
        os.makedirs(root)
        build(root)


if __name__ == "__main__":
    main()
