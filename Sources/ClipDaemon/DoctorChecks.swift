import ClipboardBackends
import Foundation

/// The checks `clipd doctor` makes in its own process: the desktop session it runs in, the
/// state files, the VM ports of this machine. The daemon adds its own view (`Daemon+Diagnosis`).
///
/// Reads `/dev` and `/sys` through `root` (`/` normally), so tests can give it a tree.
/// Any thread, but the session probes connect to the display: one check at a time.
public struct DoctorChecks {
    public let environment: [String: String]
    public let paths: DaemonPaths
    public let source: ConfigurationSource
    public let root: String

    public init(environment: [String: String], paths: DaemonPaths, source: ConfigurationSource, root: String = "") {
        self.environment = environment
        self.paths = paths
        self.source = source
        self.root = root
    }

    /// What the environment says the session is: the backend `auto` would pick.
    public var sessionBackend: DaemonConfiguration.Backend { DaemonConfiguration.sessionBackend(environment: environment) }

    /// The desktop session: Wayland and its data-control protocol, XWayland, X11, or none.
    public func session() -> [DoctorFinding] {
        let wayland = environment["WAYLAND_DISPLAY"].flatMap { $0.isEmpty ? nil : $0 }
        let x11 = environment["DISPLAY"].flatMap { $0.isEmpty ? nil : $0 }
        var findings: [DoctorFinding] = []
        if let wayland {
            do {
                findings.append(DoctorFinding(.ok, "Wayland session \(wayland): \(try WaylandBackend.probe(displayName: nil))"))
            } catch {
                findings.append(x11 == nil
                    ? DoctorFinding(.problem, "\(error)", fix: "run clipd with --backend memory and use clipd send / recv, or a compositor with data-control (sway, KDE Plasma 6, Hyprland)")
                    : DoctorFinding(.note, "\(error)", fix: "nothing: with backend auto clipd uses X11 through XWayland on \(x11!)"))
            }
        }
        if let x11 {
            let what = wayland == nil ? "X11 session \(x11)" : "XWayland \(x11)"
            do {
                findings.append(DoctorFinding(.ok, "\(what): \(try X11Backend.probe(displayName: nil))"))
            } catch {
                findings.append(DoctorFinding(.problem, "\(error)", fix: "check DISPLAY and XAUTHORITY, or run clipd with --backend memory"))
            }
        }
        if wayland == nil && x11 == nil {
            findings.append(DoctorFinding(.note, "no desktop session here (DISPLAY and WAYLAND_DISPLAY unset): clipd keeps an in-memory clipboard",
                                    fix: "use clipd send / clipd recv; in a desktop session, run clipd there"))
        }
        return findings
    }

    /// The config file, peers.toml and the identity: readable, valid and private.
    public func stateFiles() -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        do {
            _ = try source.load()
            let note = FileManager.default.fileExists(atPath: source.path) ? "valid" : "absent, the defaults apply"
            findings.append(DoctorFinding(.ok, "config \(source.path): \(note)"))
        } catch {
            findings.append(DoctorFinding(.problem, "\(error)", fix: "edit the file, then `clipd config check`"))
        }
        do {
            let peers = try PeerStore(path: paths.peersFile)
            findings.append(DoctorFinding(.ok, "peers \(paths.peersFile): \(peers.peers.count) paired"))
        } catch {
            findings.append(DoctorFinding(.problem, "\(error)", fix: "fix or remove the file (removing it forgets every pairing)"))
        }
        do {
            let exists = try PrivateFiles.read(paths.identityFile) != nil
            findings.append(DoctorFinding(.ok, "identity \(paths.identityFile): \(exists ? "private" : "not made yet (the first `clipd run` makes it)")"))
        } catch {
            findings.append(DoctorFinding(.problem, "\(error)"))
        }
        return findings
    }

    /// The virtio-serial ports a guest has: clipd's own and the SPICE agent's.
    public func guestPorts() -> [DoctorFinding] {
        let directory = root + "/dev/virtio-ports"
        let ports = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        var findings: [DoctorFinding] = []
        if ports.contains(VirtioChannel.portName) {
            let usable = access(directory + "/" + VirtioChannel.portName, R_OK | W_OK) == 0
            findings.append(usable
                ? DoctorFinding(.ok, "this is a VM guest with clipd's port \(directory)/\(VirtioChannel.portName)")
                : DoctorFinding(.problem, "clipd's port \(directory)/\(VirtioChannel.portName) is here but this user cannot open it",
                          fix: "run the guest's clipd as root (the system unit clipd-guest.service does), or give the port to this user with a udev rule"))
        }
        if ports.contains(VirtioChannel.spiceAgentPortName) {
            findings.append(DoctorFinding(.note, "the SPICE agent port \(directory)/\(VirtioChannel.spiceAgentPortName) is here: spice-vdagent in this guest talks to the host's clipd through it",
                                    fix: "nothing to do in the guest if spice-vdagent runs; the host runs clipd with --vdagent"))
        }
        return findings
    }
}
