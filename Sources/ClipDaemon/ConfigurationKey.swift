/// One key of clipd.toml: its name, how two configurations differ on it, and whether a
/// running daemon applies a new value at a reload (`live`) or only at its next start.
///
/// A value type; safe to share between threads.
struct ConfigurationKey: Sendable {
    let name: String
    let live: Bool
    let differs: @Sendable (DaemonConfiguration, DaemonConfiguration) -> Bool
}

extension DaemonConfiguration {
    /// Every key a config file may hold, those a reload applies first (the order reloads
    /// report them in).
    static let keys: [ConfigurationKey] = [
        ConfigurationKey(name: "listen", live: true) { $0.listen != $1.listen },
        ConfigurationKey(name: "max_size", live: true) { $0.maximumItemSize != $1.maximumItemSize },
        ConfigurationKey(name: "lazy_above", live: true) { $0.lazyThreshold != $1.lazyThreshold },
        ConfigurationKey(name: "chunk_cache", live: true) { $0.chunkCacheBudget != $1.chunkCacheBudget },
        ConfigurationKey(name: "sync_files", live: true) { $0.syncFiles != $1.syncFiles },
        ConfigurationKey(name: "virtio", live: true) { $0.virtio != $1.virtio },
        ConfigurationKey(name: "vdagent", live: true) { $0.vdagent != $1.vdagent },
        ConfigurationKey(name: "log_level", live: true) { $0.logLevel != $1.logLevel },
        ConfigurationKey(name: "backend", live: false) { $0.backend != $1.backend },
        ConfigurationKey(name: "selections", live: false) { $0.selections != $1.selections },
        ConfigurationKey(name: "name", live: false) { $0.name != $1.name },
        ConfigurationKey(name: "sync_secrets", live: false) { $0.syncSecrets != $1.syncSecrets },
        ConfigurationKey(name: "extra_mime_types", live: false) { $0.extraMIMETypes != $1.extraMIMETypes },
    ]

    /// The names of every key a config file may hold.
    public static var knownKeys: [String] { keys.map(\.name) }

    /// The keys whose values differ between two configurations, in `keys` order.
    static func differingKeys(_ a: DaemonConfiguration, _ b: DaemonConfiguration) -> [ConfigurationKey] {
        keys.filter { $0.differs(a, b) }
    }
}
