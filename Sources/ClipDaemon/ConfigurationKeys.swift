import ClipTOML
import ClipWire
import Logging

extension DaemonConfiguration {
    /// Every key a config file may hold, in the order of the default file (and of a
    /// reload's report).
    static let keys: [ConfigurationKey] = [
        ConfigurationKey(
            "backend", \.backend, option: "backend", reload: .atRestart, example: "\"memory\"",
            template: """
                # Desktop clipboard: "auto" (Wayland when WAYLAND_DISPLAY is set, else X11 when
                # DISPLAY is set, else an in-memory clipboard), "wayland", "x11" or "memory".
                # Changing it takes effect when clipd restarts.
                # backend = "auto"
                """,
            file: { value in
                guard let text = value.string, let backend = Backend(rawValue: text) else {
                    throw ConfigurationKey.Problem(message: "backend must be auto, memory, x11 or wayland")
                }
                return backend
            },
            arguments: { arguments in
                let text = ConfigurationValue.last(arguments)
                guard let backend = Backend(rawValue: text) else { throw DaemonError("unknown backend '\(text)': use auto, wayland, x11 or memory") }
                return backend
            }),
        ConfigurationKey(
            "selections", \.selections, option: "selections", reload: .atRestart, example: "[\"clipboard\", \"primary\"]",
            template: """
                # Selections to sync: "clipboard", and "primary" (the middle-click selection).
                # Takes effect when clipd restarts.
                # selections = ["clipboard"]
                """,
            file: { try parseSelections(ConfigurationValue.strings($0, "selections must be a list of names").joined(separator: ",")) },
            arguments: { try parseSelections($0.joined(separator: ",")) }),
        ConfigurationKey(
            "listen", \.listen, option: "listen", reload: .listeners, example: "[\"127.0.0.1:7001\"]",
            template: """
                # Accept paired peers on these addresses. Without it this machine only dials out.
                # listen = ["0.0.0.0:7439"]
                # listen = []
                """,
            file: { try ConfigurationValue.strings($0, "listen must be a list of \"HOST:PORT\"") },
            arguments: { $0 }),
        ConfigurationKey(
            "max_size", \.maximumItemSize, option: "max-size", reload: .engineLimits, example: "\"1MiB\"",
            template: """
                # The largest item sent or accepted: plain bytes or K, M, G, KiB, MiB, GiB.
                # max_size = "64MiB"
                """,
            file: { try ConfigurationValue.size($0, key: "max_size", example: "64MiB") },
            arguments: { try SizeParser.parse(ConfigurationValue.last($0)) }),
        ConfigurationKey(
            "lazy_above", \.lazyThreshold, option: "lazy-above", reload: .engineLimits, example: "0",
            template: """
                # Items from peers larger than this are fetched only when something pastes them.
                # "0" makes every item above 64 KiB wait for a paste.
                # lazy_above = "256KiB"
                """,
            file: { try ConfigurationValue.size($0, key: "lazy_above", example: "256KiB", zero: true) },
            arguments: { try SizeParser.parse(ConfigurationValue.last($0)) }),
        ConfigurationKey(
            "chunk_cache", \.chunkCacheBudget, option: "chunk-cache", reload: .engineLimits, example: "\"4MiB\"",
            template: """
                # Memory for chunks kept beyond the items held: for deltas and relaying.
                # chunk_cache = "32MiB"
                """,
            file: { try ConfigurationValue.size($0, key: "chunk_cache", example: "32MiB", zero: true) },
            arguments: { try SizeParser.parse(ConfigurationValue.last($0)) }),
        ConfigurationKey(
            "name", \.name, option: "name", reload: .atRestart, example: "\"desk\"",
            template: """
                # The name peers see. Default: this machine's host name. Takes effect on restart.
                # name = "desk"
                """,
            file: { value in
                guard let name = value.string, !name.isEmpty else { throw ConfigurationKey.Problem(message: "name must be a non-empty string") }
                return name
            },
            arguments: { ConfigurationValue.last($0) }),
        ConfigurationKey(
            "sync_secrets", \.syncSecrets, option: nil, reload: .atRestart, example: "true",
            template: """
                # Sync items a password manager marks secret (x-kde-passwordManagerHint).
                # Takes effect on restart.
                # sync_secrets = false
                """,
            file: { try ConfigurationValue.flag($0, key: "sync_secrets") }),
        ConfigurationKey(
            "extra_mime_types", \.extraMIMETypes, option: nil, reload: .atRestart, example: "[\"application/x-foo\"]",
            template: """
                # MIME types to sync besides text, text/html, text/uri-list and image/*.
                # Takes effect on restart.
                # extra_mime_types = []
                """,
            file: { value in
                let list = try ConfigurationValue.strings(value, "extra_mime_types must be a list of MIME types")
                if let bad = list.first(where: { !MIMEType.isValid($0) }) {
                    throw ConfigurationKey.Problem(message: "extra_mime_types: '\(Printable.text(bad))' is not a MIME type (\(MIMEType.problem(bad)!))")
                }
                return list
            }),
        ConfigurationKey(
            "sync_files", \.syncFiles, option: nil, reload: .copied, example: "false",
            template: """
                # Files copied in a file manager travel with their URIs and arrive as files.
                # sync_files = true
                """,
            file: { try ConfigurationValue.flag($0, key: "sync_files") }),
        ConfigurationKey(
            "virtio", \.virtio, option: "virtio", reload: .channels, example: "[\"unix:/run/vm/clipd.sock\"]",
            template: """
                # VM channels (virtio-serial port org.clipd.0) to guests running clipd:
                # "unix:PATH" connects to QEMU's chardev socket, "unix-listen:PATH" waits for QEMU,
                # a device path is a guest's own port (found by itself when this is empty).
                # virtio = []
                """,
            file: { try ConfigurationValue.strings($0, "virtio must be a list like [\"unix:/run/vm/clipd.sock\"]").map { try VirtioChannel(parsing: $0) } },
            // `--virtio none`: no channel, not even a guest's own port.
            arguments: { $0 == ["none"] ? [] : try $0.map { try VirtioChannel(parsing: $0) } }),
        ConfigurationKey(
            "vdagent", \.vdagent, option: "vdagent", reload: .channels, example: "[\"unix:/run/vm/vdagent-holder.sock\"]",
            template: """
                # SPICE agent ports (com.redhat.spice.0) of guests without clipd: Windows with the
                # virtio-win tools, Linux with spice-vdagent. Same forms as virtio; for a Windows
                # guest, "unix:PATH" is the socket of the port's holder (passvm run, passvm hold).
                # vdagent = []
                """,
            file: { value in
                try ConfigurationValue.strings(value, "vdagent must be a list like [\"unix:/run/vm/vdagent.sock\"]").map { try VirtioChannel(parsing: $0, option: "--vdagent") }
            },
            arguments: { try $0.map { try VirtioChannel(parsing: $0, option: "--vdagent") } }),
        ConfigurationKey(
            "log_level", \.logLevel, option: "log-level", reload: .logLevel, example: "\"debug\"",
            template: """
                # Least severe messages logged: trace, debug, info, notice, warning, error.
                # log_level = "info"
                """,
            file: { value in
                guard let text = value.string, let level = Logger.Level(rawValue: text) else {
                    throw ConfigurationKey.Problem(message: "log_level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return level
            },
            arguments: { arguments in
                let text = ConfigurationValue.last(arguments)
                guard let level = Logger.Level(rawValue: text) else {
                    throw DaemonError("unknown log level '\(text)': use trace, debug, info, notice, warning or error")
                }
                return level
            }),
    ]

    /// The names of every key a config file may hold.
    public static var knownKeys: [String] { keys.map(\.name) }

    /// The keys a running daemon applies only when it restarts.
    public static var restartKeys: [String] { keys.filter { !$0.live }.map(\.name) }

    /// The keys whose values differ between two configurations, in `keys` order.
    static func differingKeys(_ a: DaemonConfiguration, _ b: DaemonConfiguration) -> [ConfigurationKey] {
        keys.filter { $0.differs(a, b) }
    }
}
