import ClipDaemon
import Foundation
import Testing

/// Channel specs and how a guest finds its clipd port, on trees made for the test.
@Suite("VM channel specs and the guest's port")
struct VirtioChannelSpecTests {
    func tree(_ build: (String) throws -> Void) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("clipd-ports-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try build(root)
        return root
    }

    func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func theUdevLinkIsUsedWhenPresent() throws {
        let root = try tree { root in
            try write(root + "/dev/vport1p2", "")
            try FileManager.default.createDirectory(atPath: root + "/dev/virtio-ports", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/dev/virtio-ports/org.clipd.0", withDestinationPath: "../vport1p2")
            try write(root + "/sys/class/virtio-ports/vport1p2/name", "org.clipd.0\n")
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(VirtioChannel.guestPort(root: root) == root + "/dev/virtio-ports/org.clipd.0")
    }

    @Test func withoutUdevThePortIsFoundByItsSysfsName() throws {
        let root = try tree { root in
            for (port, name) in [("vport0p1", "com.redhat.spice.0"), ("vport0p2", "org.clipd.test"), ("vport0p3", "org.clipd.0")] {
                try write(root + "/dev/\(port)", "")
                try write(root + "/sys/class/virtio-ports/\(port)/name", name + "\n")
            }
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(VirtioChannel.guestPort(root: root) == root + "/dev/vport0p3")
        let none = try tree { root in try write(root + "/sys/class/virtio-ports/vport0p1/name", "com.redhat.spice.0\n") }
        defer { try? FileManager.default.removeItem(atPath: none) }
        #expect(VirtioChannel.guestPort(root: none) == nil, "not a guest with clipd's port")
    }

    @Test func specsParseAndBadOnesAreNamedInOneLine() throws {
        #expect(try VirtioChannel(parsing: "unix:/run/vm/clipd.sock") == .hostConnect(path: "/run/vm/clipd.sock"))
        #expect(try VirtioChannel(parsing: "unix-listen:/run/vm/a.sock", option: "--vdagent") == .hostListen(path: "/run/vm/a.sock"))
        #expect(try VirtioChannel(parsing: "/dev/pts/3", option: "--vdagent") == .guestDevice(path: "/dev/pts/3"))
        for (text, option, message) in [
            ("unix:", "--virtio", "invalid --virtio 'unix:': use unix:PATH (QEMU's chardev server socket), unix-listen:PATH, or the guest's port device"),
            ("", "--vdagent", "invalid --vdagent '': use unix:PATH (QEMU's chardev server socket), unix-listen:PATH, or a character device"),
            ("unix:/" + String(repeating: "a", count: 120), "--vdagent", "a unix socket path must be shorter than 108 bytes"),
        ] {
            do {
                _ = try VirtioChannel(parsing: text, option: option)
                Issue.record("\(text) parsed")
            } catch {
                #expect("\(error)".hasSuffix(message), "\(error)")
            }
        }
    }
}
