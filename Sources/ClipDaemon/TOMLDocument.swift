import ClipTOML

/// Parsing the daemon's TOML files (config, peers, identity) with `ClipTOML`, which
/// reports every malformed file instead of stopping the process.
enum TOMLDocument {
    /// The table in `text`; `what` starts each one-line error ("invalid config PATH").
    static func parse(_ text: String, what: String) throws -> TOMLTable {
        do {
            return try TOMLParser.parse(text)
        } catch {
            throw DaemonError("\(what): \(error.description)")
        }
    }
}
