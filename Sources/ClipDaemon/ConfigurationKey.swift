import ClipTOML
import ClipWire

/// One setting of clipd.toml, defined once: its name, the `clipd run` option that sets it,
/// how a file's value and the option's are read, its commented template lines, and what a
/// reload does with a new value. The parser (`DaemonConfiguration.parse`), the template
/// (`ConfigurationTemplate.text`), the command line (`RunOverrides`) and the reload
/// (`Daemon.reload`) all read `DaemonConfiguration.keys`; a new key is one entry there and
/// the stored property it sets.
///
/// A value type; safe to share between threads.
struct ConfigurationKey: Sendable {
    /// What a reload does when the key's value changed.
    enum Reload: Sendable, Hashable {
        /// Nothing until clipd restarts (reported as such).
        case atRestart
        /// The new value is taken as it is; whoever reads it sees it next time.
        case copied
        /// The new value is taken and the engine's limits are set again.
        case engineLimits
        /// The new value is taken and the log's level is set again.
        case logLevel
        /// Listeners are bound and closed to match (the reload does this before the rest).
        case listeners
        /// Channels are attached and detached to match.
        case channels
    }

    /// A value that is not what the key takes: `message` follows "invalid config PATH: ".
    struct Problem: Error {
        let message: String
    }

    let name: String
    /// `clipd run`'s long option for it, without dashes; nil when there is none.
    let option: String?
    let reload: Reload
    /// The key's paragraph in the commented default file: comments, then `# name = default`.
    let template: String
    /// A valid value other than the default, as TOML (for tests of the table).
    let example: String
    /// Reads a config file's value into a configuration.
    let parse: @Sendable (TOMLValue, inout DaemonConfiguration) throws -> Void
    /// Reads the option's arguments (each time it was given) into a configuration; nil
    /// when the key has no option.
    let parseArguments: (@Sendable ([String], inout DaemonConfiguration) throws -> Void)?
    let differs: @Sendable (DaemonConfiguration, DaemonConfiguration) -> Bool
    /// Takes the key's value from the first configuration into the second.
    let copy: @Sendable (DaemonConfiguration, inout DaemonConfiguration) -> Void

    /// Whether a running daemon applies a new value at a reload.
    var live: Bool { reload != .atRestart }

    init<Value: Equatable & Sendable>(_ name: String, _ path: WritableKeyPath<DaemonConfiguration, Value> & Sendable, option: String?,
                                      reload: Reload, example: String, template: String,
                                      file: @escaping @Sendable (TOMLValue) throws -> Value,
                                      arguments: (@Sendable ([String]) throws -> Value)? = nil) {
        self.name = name
        self.option = option
        self.reload = reload
        self.example = example
        self.template = template
        parse = { value, configuration in configuration[keyPath: path] = try file(value) }
        if let arguments {
            parseArguments = { values, configuration in configuration[keyPath: path] = try arguments(values) }
        } else {
            parseArguments = nil
        }
        differs = { $0[keyPath: path] != $1[keyPath: path] }
        copy = { $1[keyPath: path] = $0[keyPath: path] }
    }
}

/// How file values and option arguments of each shape are read.
enum ConfigurationValue {
    static func strings(_ value: TOMLValue, _ problem: String) throws -> [String] {
        guard let list = value.array?.compactMap({ $0.string }) else { throw ConfigurationKey.Problem(message: problem) }
        return list
    }

    static func flag(_ value: TOMLValue, key: String) throws -> Bool {
        guard let flag = value.bool else { throw ConfigurationKey.Problem(message: "\(key) must be true or false") }
        return flag
    }

    /// A size: a string like "64MiB" or a plain number of bytes (0 only where `zero`).
    static func size(_ value: TOMLValue, key: String, example: String, zero: Bool = false) throws -> UInt64 {
        if let s = value.string { return try SizeParser.parse(s) }
        if let n = value.int, n > 0 || (zero && n == 0) { return UInt64(n) }
        throw ConfigurationKey.Problem(message: "\(key) must be a size like \"\(example)\"")
    }

    /// The last of an option's arguments (an option given twice: the later one wins).
    static func last(_ arguments: [String]) -> String { arguments.last ?? "" }
}
