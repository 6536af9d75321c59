import ClipWire
import Foundation
import Logging

/// Settings given on `clipd run`'s command line. Each one set wins over the config file,
/// at start and at every reload. A value type; safe to share between threads.
public struct RunOverrides: Sendable {
    public var backend: DaemonConfiguration.Backend?
    public var selections: Set<Selection>?
    public var listen: [String]?
    public var maximumItemSize: UInt64?
    public var lazyThreshold: UInt64?
    public var chunkCacheBudget: UInt64?
    public var name: String?
    /// `[]` is `--virtio none`: no channel, not even a guest's own port.
    public var virtio: [VirtioChannel]?
    public var vdagent: [VirtioChannel]?
    public var logLevel: Logger.Level?

    public init() {}

    /// The config keys these settings stand for.
    var keyNames: Set<String> {
        let set: [(String, Bool)] = [
            ("backend", backend != nil), ("selections", selections != nil), ("listen", listen != nil), ("max_size", maximumItemSize != nil),
            ("lazy_above", lazyThreshold != nil), ("chunk_cache", chunkCacheBudget != nil), ("name", name != nil), ("virtio", virtio != nil),
            ("vdagent", vdagent != nil), ("log_level", logLevel != nil),
        ]
        return Set(set.filter(\.1).map(\.0))
    }

    func apply(to configuration: inout DaemonConfiguration) {
        if let backend { configuration.backend = backend }
        if let selections { configuration.selections = selections }
        if let listen { configuration.listen = listen }
        if let maximumItemSize { configuration.maximumItemSize = maximumItemSize }
        if let lazyThreshold { configuration.lazyThreshold = lazyThreshold }
        if let chunkCacheBudget { configuration.chunkCacheBudget = chunkCacheBudget }
        if let name { configuration.name = name }
        if let virtio { configuration.virtio = virtio }
        if let vdagent { configuration.vdagent = vdagent }
        if let logLevel { configuration.logLevel = logLevel }
    }
}

/// Where a daemon's configuration comes from: a config file and the command line's
/// overrides. Read at start and again at each reload (SIGHUP, `clipd config reload`).
///
/// A value type; safe to share between threads.
public struct ConfigurationSource: Sendable {
    /// The config file.
    public let path: String
    /// Whether a missing file is an error (`--config FILE`) or the defaults.
    public let required: Bool
    public let overrides: RunOverrides
    /// A guest's own clipd port, used when no VM channel is configured. Nil on a host.
    public let guestPort: String?

    public init(path: String, required: Bool, overrides: RunOverrides = RunOverrides(), guestPort: String? = VirtioChannel.guestPort()) {
        self.path = path
        self.required = required
        self.overrides = overrides
        self.guestPort = guestPort
    }

    /// The file's settings with the overrides applied. Throws a one-line `DaemonError`
    /// naming the file and the problem.
    public func load() throws -> DaemonConfiguration { try read().effective }

    /// The file's settings alone, and with the overrides applied (what `load` returns).
    func read() throws -> (file: DaemonConfiguration, effective: DaemonConfiguration) {
        let file = try DaemonConfiguration.load(path: path, required: required)
        var configuration = file
        overrides.apply(to: &configuration)
        if overrides.virtio == nil, configuration.virtio.isEmpty, let guestPort {
            configuration.virtio = [.guestDevice(path: guestPort)]
        }
        for address in configuration.listen { _ = try HostPort(parsing: address) }
        return (file, configuration)
    }

    /// The keys the file sets to a value the command line replaces (for a reload's report),
    /// from what `read` returned. Keys the file leaves at their defaults are not reported: it
    /// does not set them.
    func overriddenKeys(file: DaemonConfiguration, effective: DaemonConfiguration) -> [String] {
        let set = Set(DaemonConfiguration.differingKeys(file, DaemonConfiguration()).map(\.name)).intersection(overrides.keyNames)
        return DaemonConfiguration.differingKeys(file, effective).map(\.name).filter(set.contains)
    }

    /// Writes the commented default file when the daemon uses the default path and nothing
    /// is there yet. Returns the path written, or nil.
    public func writeDefaultFileIfMissing() throws -> String? {
        guard !required, !FileManager.default.fileExists(atPath: path) else { return nil }
        try PrivateFiles.ensureDirectory(PrivateFiles.parentDirectory(path))
        try PrivateFiles.writeAtomically(path, contents: Array(ConfigurationTemplate.text.utf8))
        return path
    }
}
