import ClipWire
import Foundation
import Logging
import ClipTOML

/// Everything `clipd run` needs, from the config file and then the command line (the
/// command line wins).
///
/// Config file (TOML), every key optional:
///
///     backend = "auto"                   # auto | wayland | x11 | memory
///     selections = ["clipboard"]         # add "primary" to sync it too
///     listen = ["0.0.0.0:7439"]          # without it the daemon only dials out
///     max_size = "64MiB"
///     name = "desk"                      # shown to peers; default: host name
///     sync_secrets = false               # items password managers mark secret
///     extra_mime_types = ["application/x-foo"]   # beyond text, HTML, URIs, images
///     virtio = ["unix:/run/vm/clipd.sock"]       # VM channels (host: unix:, unix-listen:; guest: a device)
///     vdagent = ["unix:/run/vm/vdagent-holder.sock"]  # guests' SPICE agent ports (com.redhat.spice.0), held by passvm
///     lazy_above = "256KiB"              # larger items from peers are fetched when pasted
///     chunk_cache = "32MiB"              # chunks kept for deltas and relaying, beyond held items
///     sync_files = true                  # files copied in a file manager travel with their URIs
///     log_level = "info"                 # trace, debug, info, notice, warning, error
///
/// `ConfigurationTemplate.text` is this list as the commented file written on first run.
public struct DaemonConfiguration: Sendable, Equatable {
    public enum Backend: String, Sendable { case auto, memory, x11, wayland }

    public static let defaultPort = 7439
    public static let defaultMaximumItemSize: UInt64 = 64 << 20
    public static let defaultLazyThreshold: UInt64 = 256 << 10
    public static let defaultChunkCacheBudget: UInt64 = 32 << 20

    public var backend: Backend = .auto
    public var selections: Set<Selection> = [.clipboard]
    public var listen: [String] = []
    public var maximumItemSize: UInt64 = Self.defaultMaximumItemSize
    public var name: String?
    /// Sync items a password manager marked secret (`x-kde-passwordManagerHint`).
    public var syncSecrets = false
    /// MIME types to sync besides text, text/html, text/uri-list and image/*.
    public var extraMIMETypes: [String] = []
    /// VM channels. Empty: a guest's clipd port is used when one exists.
    public var virtio: [VirtioChannel] = []
    /// SPICE agent ports of guests with no clipd, where this host plays the SPICE client.
    public var vdagent: [VirtioChannel] = []
    /// Items from peers larger than this are fetched only when something reads them (a
    /// paste, `clipd recv`, a peer fetching through this daemon).
    public var lazyThreshold: UInt64 = Self.defaultLazyThreshold
    /// Bytes of chunks kept beyond those of held items: for deltas and relaying.
    public var chunkCacheBudget: UInt64 = Self.defaultChunkCacheBudget
    /// Files a copied `text/uri-list` names go with it, and arrive as files on peers.
    public var syncFiles = true
    /// The least severe log messages written (`-v` is `debug`).
    public var logLevel: Logger.Level = .info

    public init() {}

    /// Reads a config file. A missing file is fine when `required` is false; an unreadable
    /// or invalid one is an error naming the file and the problem.
    public static func load(path: String, required: Bool) throws -> DaemonConfiguration {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw DaemonError("cannot read config \(path): no such file") }
            return DaemonConfiguration()
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw DaemonError("cannot read config \(path): permission denied or not UTF-8")
        }
        return try parse(text, path: path)
    }

    /// A configuration from the text of a config file (`path` names it in errors): each
    /// problem is one line saying what is wrong and what is expected.
    public static func parse(_ text: String, path: String) throws -> DaemonConfiguration {
        var config = DaemonConfiguration()
        let table = try TOMLDocument.parse(text, what: "invalid config \(path)")
        let known = Set(knownKeys)
        for key in table.keys where !known.contains(key) {
            throw DaemonError("invalid config \(path): unknown key '\(key)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let value = table["backend"] {
            guard let s = value.string, let b = Backend(rawValue: s) else { throw DaemonError("invalid config \(path): backend must be auto, memory, x11 or wayland") }
            config.backend = b
        }
        if let value = table["selections"] {
            guard let list = value.array?.compactMap({ $0.string }) else { throw DaemonError("invalid config \(path): selections must be a list of names") }
            config.selections = try parseSelections(list.joined(separator: ","))
        }
        if let value = table["listen"] {
            guard let list = value.array?.compactMap({ $0.string }) else { throw DaemonError("invalid config \(path): listen must be a list of \"HOST:PORT\"") }
            config.listen = list
        }
        if let value = table["max_size"] { config.maximumItemSize = try size(value, key: "max_size", example: "64MiB", path: path) }
        if let value = table["lazy_above"] { config.lazyThreshold = try size(value, key: "lazy_above", example: "256KiB", path: path, zero: true) }
        if let value = table["chunk_cache"] { config.chunkCacheBudget = try size(value, key: "chunk_cache", example: "32MiB", path: path, zero: true) }
        if let value = table["sync_secrets"] {
            guard let b = value.bool else { throw DaemonError("invalid config \(path): sync_secrets must be true or false") }
            config.syncSecrets = b
        }
        if let value = table["sync_files"] {
            guard let b = value.bool else { throw DaemonError("invalid config \(path): sync_files must be true or false") }
            config.syncFiles = b
        }
        if let value = table["extra_mime_types"] {
            guard let list = value.array?.compactMap({ $0.string }) else { throw DaemonError("invalid config \(path): extra_mime_types must be a list of MIME types") }
            if let bad = list.first(where: { !MIMEType.isValid($0) }) {
                throw DaemonError("invalid config \(path): extra_mime_types: '\(Printable.text(bad))' is not a MIME type (\(MIMEType.problem(bad)!))")
            }
            config.extraMIMETypes = list
        }
        if let value = table["virtio"] {
            guard let list = value.array?.compactMap({ $0.string }) else { throw DaemonError("invalid config \(path): virtio must be a list like [\"unix:/run/vm/clipd.sock\"]") }
            config.virtio = try list.map { try VirtioChannel(parsing: $0) }
        }
        if let value = table["vdagent"] {
            guard let list = value.array?.compactMap({ $0.string }) else { throw DaemonError("invalid config \(path): vdagent must be a list like [\"unix:/run/vm/vdagent.sock\"]") }
            config.vdagent = try list.map { try VirtioChannel(parsing: $0, option: "--vdagent") }
        }
        if let value = table["log_level"] {
            guard let s = value.string, let level = Logger.Level(rawValue: s) else {
                throw DaemonError("invalid config \(path): log_level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.logLevel = level
        }
        if let value = table["name"] {
            guard let s = value.string, !s.isEmpty else { throw DaemonError("invalid config \(path): name must be a non-empty string") }
            config.name = s
        }
        return config
    }

    /// A size key: a string like "64MiB" or a plain number of bytes.
    private static func size(_ value: TOMLValue, key: String, example: String, path: String, zero: Bool = false) throws -> UInt64 {
        if let s = value.string { return try SizeParser.parse(s) }
        if let n = value.int, n > 0 || (zero && n == 0) { return UInt64(n) }
        throw DaemonError("invalid config \(path): \(key) must be a size like \"\(example)\"")
    }

    /// The backend `auto` stands for here: Wayland when WAYLAND_DISPLAY is set, else X11
    /// when DISPLAY is set, else the memory clipboard. (The daemon falls back from Wayland
    /// to X11 when the compositor has no data-control protocol and DISPLAY is set.)
    public func resolvedBackend(environment: [String: String]) -> Backend {
        backend == .auto ? Self.sessionBackend(environment: environment) : backend
    }

    /// The desktop an environment says it is in: Wayland, X11 or none (memory).
    public static func sessionBackend(environment: [String: String]) -> Backend {
        if !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty { return .wayland }
        if !(environment["DISPLAY"] ?? "").isEmpty { return .x11 }
        return .memory
    }

    /// Parses `clipboard[,primary]`.
    public static func parseSelections(_ text: String) throws -> Set<Selection> {
        var out: Set<Selection> = []
        for part in text.split(separator: ",") {
            guard let s = Selection(name: part.trimmingCharacters(in: .whitespaces)) else {
                throw DaemonError("invalid selection '\(part)': use clipboard, primary or clipboard,primary")
            }
            out.insert(s)
        }
        guard !out.isEmpty else { throw DaemonError("no selections given: use clipboard, primary or clipboard,primary") }
        return out
    }
}

/// A HOST:PORT pair, with IPv6 hosts in brackets (`[::1]:7439`).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    /// Parses `HOST:PORT`, `[V6]:PORT`, `tcp://HOST:PORT`, or a bare host (default port).
    public init(parsing raw: String, defaultPort: Int = DaemonConfiguration.defaultPort) throws {
        var text = raw
        if text.hasPrefix("tcp://") { text.removeFirst(6) }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw DaemonError("invalid address '\(raw)': missing ']'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { port = defaultPort }
            else if rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) { port = p }
            else { throw DaemonError("invalid address '\(raw)': expected [HOST]:PORT") }
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            host = text
            port = defaultPort
        case 2:
            guard let p = Int(parts[1]), (1...65535).contains(p) else { throw DaemonError("invalid address '\(raw)': port must be 1-65535") }
            host = String(parts[0])
            port = p
        default:
            throw DaemonError("invalid address '\(raw)': put IPv6 addresses in brackets, e.g. [::1]:\(defaultPort)")
        }
        guard !host.isEmpty else { throw DaemonError("invalid address '\(raw)': missing host") }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
