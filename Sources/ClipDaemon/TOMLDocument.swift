import TOMLKit

/// Parsing the daemon's TOML files (config, peers, identity). The text is checked for
/// control characters first: TOML allows none but tab and line ends, and the parser behind
/// TOMLKit aborts the process on some of them instead of reporting an error.
enum TOMLDocument {
    /// The table in `text`; `what` starts each one-line error ("invalid config PATH").
    static func parse(_ text: String, what: String) throws -> TOMLTable {
        var line = 1
        for scalar in text.unicodeScalars {
            if scalar == "\n" { line += 1; continue }
            if scalar.value < 0x20 && scalar != "\t" && scalar != "\r" || scalar.value == 0x7f {
                throw DaemonError("\(what): line \(line) holds control character 0x\(String(scalar.value, radix: 16, uppercase: true)), which TOML does not allow")
            }
        }
        if let line = badTableHeaderLine(text) {
            throw DaemonError("\(what): line \(line): a table name must be a bare key (letters, digits, _ and -) or quoted")
        }
        do {
            return try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw DaemonError("\(what): \(error.description) at line \(error.source.begin.line)")
        }
    }

    /// The first line whose `[` is followed by something no TOML table name or value can
    /// start with (toml++ asserts there instead of failing), or nil.
    static func badTableHeaderLine(_ text: String) -> Int? {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            // Scalars, not characters: a combining mark would join the `[` it follows.
            var rest = line.unicodeScalars.drop { $0 == " " || $0 == "\t" }
            guard rest.first == "[" else { continue }
            rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" || $0 == "[" }.drop { $0 == " " || $0 == "\t" }
            // A bare `[` at the end of a line is refused too (valid only for a nested array
            // split over lines, which no clipd file needs).
            guard let next = rest.first else { return index + 1 }
            let fine = (next.isASCII && (next.properties.isAlphabetic || ("0"..."9").contains(next))) || "_-\"'[]".unicodeScalars.contains(next)
            if !fine { return index + 1 }
        }
        return nil
    }
}
