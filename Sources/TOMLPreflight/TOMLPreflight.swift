/// A check of TOML text before it reaches TOMLKit, whose parser (toml++) stops the whole
/// process with a failed assertion on some malformed files instead of reporting an error.
/// Refused here, each in one line: control characters (TOML allows none but tab and line
/// ends), and a table header whose `[` or `[[` is not followed by a key (a bare key of
/// letters, digits, `_` and `-`, or a quoted one). Every input that made toml++ abort under
/// `make fuzz` is a seed in `Tests/Fuzz/seeds/*-config/`.
///
/// A line starting with `[` is taken as a header, so an array value continued over lines
/// may not start a line with `[` (no clipd or passvm file needs nested arrays).
///
/// Pure function; any thread.
public enum TOMLPreflight {
    /// What is wrong with `text`, starting "line N", or nil when it may go to the parser.
    public static func problem(in text: String) -> String? {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let bad = line.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\t" && $0 != "\r" || $0.value == 0x7f }) {
                return "line \(index + 1) holds control character 0x\(String(bad.value, radix: 16, uppercase: true)), which TOML does not allow"
            }
            if !headerIsSound(line) {
                return "line \(index + 1): a table name must be a bare key (letters, digits, _ and -) or quoted"
            }
        }
        return nil
    }

    /// False when `line` is a table header whose name does not start as a key can.
    static func headerIsSound(_ line: Substring) -> Bool {
        // Scalars, not characters: a combining mark would join the `[` it follows.
        var rest = line.unicodeScalars.drop { $0 == " " || $0 == "\t" }
        guard rest.first == "[" else { return true }
        rest = rest.dropFirst()
        if rest.first == "[" { rest = rest.dropFirst() }  // [[array of tables]]
        guard let next = rest.drop(while: { $0 == " " || $0 == "\t" }).first else { return false }
        return next.isASCII && (next.properties.isAlphabetic || ("0"..."9").contains(next)) || "_-\"'".unicodeScalars.contains(next)
    }
}
