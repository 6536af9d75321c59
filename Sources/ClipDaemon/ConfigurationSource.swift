import ClipWire
import Foundation
import Logging

/// Settings given on `clipd run`'s command line. Each one set wins over the config file,
/// at start and at every reload. A value type; safe to share between threads.
public struct RunOverrides: Sendable {
    /// The options' values, read into an otherwise default configuration.
    private var values = DaemonConfiguration()
    /// The config keys the options set.
    private(set) var keyNames: Set<String> = []

    public init() {}

    /// Reads `clipd run`'s options: each option's long name (without dashes) with the
    /// arguments it was given, in order (an option not given: absent or empty). Throws a
    /// one-line error for a bad value or an option no key has.
    public init(options: [String: [String]]) throws {
        for (option, arguments) in options where !arguments.isEmpty {
            guard let key = DaemonConfiguration.keys.first(where: { $0.option == option }), let parse = key.parseArguments else {
                throw DaemonError("--\(option) is not a setting of clipd run")
            }
            try parse(arguments, &values)
            keyNames.insert(key.name)
        }
    }

    func apply(to configuration: inout DaemonConfiguration) {
        for key in DaemonConfiguration.keys where keyNames.contains(key.name) { key.copy(values, &configuration) }
    }

    /// Whether the command line sets the VM channels (`--virtio none` sets none).
    var setsVirtio: Bool { keyNames.contains("virtio") }
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
        if !overrides.setsVirtio, configuration.virtio.isEmpty, let guestPort {
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
