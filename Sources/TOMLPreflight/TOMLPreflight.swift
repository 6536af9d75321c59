/// A check of TOML text before it reaches TOMLKit, whose parser (toml++) stops the whole
/// process with a failed assertion on some malformed files instead of reporting an error.
/// Refused here, each in one line naming it: control characters (TOML allows none but tab
/// and line ends), and, outside strings and comments, brackets, commas and `=` followed by
/// what no key or value can start with (`bracketProblem`). Every input that made toml++
/// abort under `make fuzz` is a seed in `Tests/Fuzz/seeds/*-config/`.
///
/// A `[` that starts a line outside any array is a header; inside a multi-line array it is
/// a nested array.
///
/// Pure function; any thread.
public enum TOMLPreflight {
    /// What is wrong with `text`, starting "line N", or nil when it may go to the parser.
    public static func problem(in text: String) -> String? {
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let bad = line.unicodeScalars.first(where: { $0.value < 0x20 && $0 != "\t" && $0 != "\r" || $0.value == 0x7f }) {
                return "line \(index + 1) holds control character 0x\(String(bad.value, radix: 16, uppercase: true)), which TOML does not allow"
            }
        }
        return bracketProblem(in: text)
    }

    /// Outside strings and comments: a header's name must start as a key can; after `=`, a
    /// value must start on the same line; inside an array, a `[` or `,` must be followed by
    /// a value or `]`; inside an inline table, a `{` or `,` by a key (or `}` after `{`).
    /// toml++ asserts on `[}`, `[[[`, `["a",}` and the like instead of failing.
    static func bracketProblem(in text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        var line = 1, i = 0, atLineStart = true
        var open: [Unicode.Scalar] = []  // the arrays and inline tables around i
        /// The first scalar after `from` that is not blank (nor, with `lines`, a line end or
        /// a comment), or nil at the end.
        func next(after from: Int, lines: Bool) -> Unicode.Scalar? {
            var j = from + 1
            while j < scalars.count {
                let c = scalars[j]
                if c == " " || c == "\t" || c == "\r" || (lines && c == "\n") {
                    j += 1
                } else if lines && c == "#" {
                    while j < scalars.count, scalars[j] != "\n" { j += 1 }
                } else {
                    return c
                }
            }
            return nil
        }
        while i < scalars.count {
            let c = scalars[i]
            switch c {
            case "\n":
                line += 1
                atLineStart = true
                i += 1
                continue
            case " ", "\t", "\r":
                i += 1
                continue
            case "#":
                while i < scalars.count, scalars[i] != "\n" { i += 1 }
                continue
            case "\"", "'":
                i = endOfString(scalars, from: i, line: &line)
                atLineStart = false
                continue
            case "[" where atLineStart && open.isEmpty:
                // A header: its name must start as a key can; the rest is the parser's.
                var end = i
                while end < scalars.count, scalars[end] != "\n" { end += 1 }
                if !headerIsSound(scalars[i..<end]) {
                    return "line \(line): a table name must be a bare key (letters, digits, _ and -) or quoted"
                }
                while i < end, scalars[i] != "#" { i += 1 }
                continue
            case "=":
                guard let value = next(after: i, lines: false), startsValue(value) else {
                    return "line \(line): a value must follow = on the same line"
                }
            case "[":
                open.append(c)
                guard let value = next(after: i, lines: true), startsValue(value) || value == "]" else {
                    return "line \(line): an array's [ must be followed by a value or ]"
                }
            case "{":
                open.append(c)
                guard let key = next(after: i, lines: false), startsKey(key) || key == "}" else {
                    return "line \(line): an inline table's { must be followed by a key or }"
                }
            case "]", "}":
                if !open.isEmpty { open.removeLast() }
            case ",":
                if open.last == "[" {
                    guard let value = next(after: i, lines: true), startsValue(value) || value == "]" else {
                        return "line \(line): a , in an array must be followed by a value or ]"
                    }
                } else if open.last == "{" {
                    guard let key = next(after: i, lines: false), startsKey(key) else {
                        return "line \(line): a , in an inline table must be followed by a key"
                    }
                }
            default:
                break
            }
            atLineStart = false
            i += 1
        }
        return nil
    }

    /// The index just past the string starting at `from` (basic or literal, one line or
    /// multi-line), counting the line ends it holds.
    private static func endOfString(_ scalars: [Unicode.Scalar], from: Int, line: inout Int) -> Int {
        let quote = scalars[from]
        let multiLine = from + 2 < scalars.count && scalars[from + 1] == quote && scalars[from + 2] == quote
        var i = from + (multiLine ? 3 : 1)
        while i < scalars.count {
            let c = scalars[i]
            if c == "\\" && quote == "\"" { i += 2; continue }
            if c == "\n" {
                line += 1
                if !multiLine { return i }  // unterminated: the parser reports it
            }
            if c == quote {
                if !multiLine { return i + 1 }
                if i + 2 < scalars.count && scalars[i + 1] == quote && scalars[i + 2] == quote { return i + 3 }
            }
            i += 1
        }
        return i
    }

    private static func startsKey(_ c: Unicode.Scalar) -> Bool {
        c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c)) || "_-\"'".unicodeScalars.contains(c)
    }

    /// Strings, numbers (with sign), booleans, dates, inf and nan, arrays, inline tables.
    private static func startsValue(_ c: Unicode.Scalar) -> Bool {
        c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c)) || "\"'+-[{".unicodeScalars.contains(c)
    }

    /// False when `header` (from its `[` to the line end) names a table with something that
    /// cannot start a key. Scalars, not characters: a combining mark would join the `[`.
    static func headerIsSound(_ header: ArraySlice<Unicode.Scalar>) -> Bool {
        var rest = header.dropFirst()
        if rest.first == "[" { rest = rest.dropFirst() }  // [[array of tables]]
        guard let next = rest.drop(while: { $0 == " " || $0 == "\t" }).first else { return false }
        return startsKey(next)
    }
}
