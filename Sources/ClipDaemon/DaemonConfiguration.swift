import ClipWire
import Foundation
import Logging
import ClipTOML

/// Everything `clipd run` needs, from the config file and then the command line (the
/// command line wins). Every key is optional; `DaemonConfiguration.keys` defines each one
/// (name, option, how it is read, its template lines, what a reload does with it), and
/// `ConfigurationTemplate.text` is the commented file written on first run.
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
        for key in keys {
            guard let value = table[key.name] else { continue }
            do {
                try key.parse(value, &config)
            } catch let problem as ConfigurationKey.Problem {
                throw DaemonError("invalid config \(path): \(problem.message)")
            }
        }
        return config
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
