#if canImport(Glibc)
import Glibc
#endif

/// Where a daemon keeps its state and its control socket.
///
/// With `--home DIR` (or `CLIPD_HOME`), everything lives in DIR, so several daemons can run
/// side by side. Otherwise configuration and keys go to `$XDG_CONFIG_HOME/clipd` (default
/// `~/.config/clipd`) and the socket to `$XDG_RUNTIME_DIR/clipd` (default
/// `/tmp/clipd-UID`).
public struct DaemonPaths: Sendable {
    public let stateDirectory: String
    public let runtimeDirectory: String

    public var identityFile: String { stateDirectory + "/identity.toml" }
    public var peersFile: String { stateDirectory + "/peers.toml" }
    public var configFile: String { stateDirectory + "/clipd.toml" }
    public var controlSocket: String { runtimeDirectory + "/clipd.sock" }
    /// When each peer was last seen (`ContactLog`), written when the daemon stops.
    public var lastContactFile: String { stateDirectory + "/last-contact" }
    /// Present while sync is paused (`clipd pause`): a restarted daemon stays paused.
    public var pausedFile: String { runtimeDirectory + "/paused" }
    /// VM channels attached at run time (`passvm run`), one spec per line, so they survive
    /// a daemon restart while their VMs run.
    public var attachedChannelsFile: String { runtimeDirectory + "/attached-channels" }

    public init(home: String?, environment: [String: String]) {
        if let home = home ?? environment["CLIPD_HOME"], !home.isEmpty {
            let absolute = home.hasPrefix("/") ? home : Self.currentDirectory() + "/" + home
            stateDirectory = absolute
            runtimeDirectory = absolute
            return
        }
        let userHome = environment["HOME"] ?? "/tmp"
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? userHome + "/.config"
        stateDirectory = config + "/clipd"
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            runtimeDirectory = runtime + "/clipd"
        } else {
            runtimeDirectory = "/tmp/clipd-\(getuid())"
        }
    }

    private static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
