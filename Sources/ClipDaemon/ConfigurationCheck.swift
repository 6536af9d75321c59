import Foundation

/// `clipd config check`: reads the files a daemon would read at start (the config file and
/// peers.toml) without starting one, and says what the settings come to.
///
/// Pure apart from reading those files; any thread.
public enum ConfigurationCheck {
    /// Lines for people: which files were read and the settings in effect. Throws the one-line
    /// error a daemon would stop with.
    public static func run(source: ConfigurationSource, paths: DaemonPaths) throws -> [String] {
        let configuration = try source.load()
        let peers = try PeerStore(path: paths.peersFile)
        var lines: [String] = []
        if FileManager.default.fileExists(atPath: source.path) {
            lines.append("\(source.path): ok")
        } else {
            lines.append("\(source.path): not there, the defaults apply (`clipd run` writes a commented one)")
        }
        lines.append("\(paths.peersFile): ok, \(peers.peers.count) paired peer\(peers.peers.count == 1 ? "" : "s")")
        lines += describe(configuration)
        return lines
    }

    /// The settings, one `key = value` line each, as a config file would hold them.
    public static func describe(_ c: DaemonConfiguration) -> [String] {
        func list(_ values: [String]) -> String { "[" + values.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
        return [
            "backend = \"\(c.backend.rawValue)\"",
            "selections = \(list(c.selections.map(\.description).sorted()))",
            "listen = \(list(c.listen))",
            "max_size = \"\(exact(c.maximumItemSize))\"",
            "lazy_above = \"\(exact(c.lazyThreshold))\"",
            "chunk_cache = \"\(exact(c.chunkCacheBudget))\"",
            "name = \"\(c.name ?? LocalIdentity.hostName())\"",
            "sync_secrets = \(c.syncSecrets)",
            "extra_mime_types = \(list(c.extraMIMETypes))",
            "sync_files = \(c.syncFiles)",
            "virtio = \(list(c.virtio.map(\.description)))",
            "vdagent = \(list(c.vdagent.map(\.description)))",
            "log_level = \"\(c.logLevel.rawValue)\"",
        ]
    }

    /// A size as a config file can hold it: the largest unit that divides it exactly.
    static func exact(_ bytes: UInt64) -> String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes != 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }
}
