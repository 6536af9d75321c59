import TOMLKit
import TOMLPreflight

/// Parsing the daemon's TOML files (config, peers, identity). The text is checked by
/// `TOMLPreflight` first: the parser behind TOMLKit aborts the process on some malformed
/// files instead of reporting an error.
enum TOMLDocument {
    /// The table in `text`; `what` starts each one-line error ("invalid config PATH").
    static func parse(_ text: String, what: String) throws -> TOMLTable {
        if let problem = TOMLPreflight.problem(in: text) { throw DaemonError("\(what): \(problem)") }
        do {
            return try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw DaemonError("\(what): \(error.description) at line \(error.source.begin.line)")
        }
    }
}
