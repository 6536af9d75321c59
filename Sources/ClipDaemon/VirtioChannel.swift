import Foundation

/// Where a VM channel (a QEMU virtio-serial port) is reached (protocol/channel.md).
///
/// - `unix:PATH`: the host connects to QEMU's chardev server socket, and connects again
///   whenever QEMU or the connection goes away.
/// - `unix-listen:PATH`: the host listens and QEMU connects (chardev socket as a client).
/// - anything else is the guest's port device, e.g. `/dev/virtio-ports/org.clipd.0`.
public enum VirtioChannel: Sendable, Hashable, CustomStringConvertible {
    case hostConnect(path: String)
    case hostListen(path: String)
    case guestDevice(path: String)

    /// The port name clipd's channel uses.
    public static let portName = "org.clipd.0"
    /// The port the stock SPICE agent (spice-vdagent, the virtio-win tools) opens in a guest.
    public static let spiceAgentPortName = "com.redhat.spice.0"

    /// Parses a channel spec; `option` names it in errors (`--virtio` or `--vdagent`, whose
    /// device form is the host's end of the agent's port, a pty for instance).
    public init(parsing text: String, option: String = "--virtio") throws {
        if text.hasPrefix("unix-listen:") {
            self = .hostListen(path: try Self.path(String(text.dropFirst("unix-listen:".count)), in: text, option: option))
        } else if text.hasPrefix("unix:") {
            self = .hostConnect(path: try Self.path(String(text.dropFirst("unix:".count)), in: text, option: option))
        } else {
            self = .guestDevice(path: try Self.path(text, in: text, option: option))
        }
    }

    private static func path(_ path: String, in text: String, option: String) throws -> String {
        guard !path.isEmpty else {
            let device = option == "--virtio" ? "the guest's port device" : "a character device"
            throw DaemonError("invalid \(option) '\(text)': use unix:PATH (QEMU's chardev server socket), unix-listen:PATH, or \(device)")
        }
        guard path.utf8.count < 108 || !text.hasPrefix("unix") else {
            throw DaemonError("invalid \(option) '\(text)': a unix socket path must be shorter than 108 bytes")
        }
        return path
    }

    public var description: String {
        switch self {
        case .hostConnect(let path): "unix:\(path)"
        case .hostListen(let path): "unix-listen:\(path)"
        case .guestDevice(let path): path
        }
    }

    public var isGuest: Bool {
        if case .guestDevice = self { return true }
        return false
    }

    /// The guest's clipd port, when this machine is a guest with one: the udev link
    /// `/dev/virtio-ports/org.clipd.0`, else the port whose sysfs name is org.clipd.0
    /// (guests without udev).
    public static func guestPort(root: String = "") -> String? {
        let link = root + "/dev/virtio-ports/" + portName
        if FileManager.default.fileExists(atPath: link) { return link }
        let ports = root + "/sys/class/virtio-ports"
        for port in (try? FileManager.default.contentsOfDirectory(atPath: ports))?.sorted() ?? [] {
            let name = (try? String(contentsOfFile: "\(ports)/\(port)/name", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            if name == portName, FileManager.default.fileExists(atPath: root + "/dev/" + port) { return root + "/dev/" + port }
        }
        return nil
    }
}
