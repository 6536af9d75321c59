/// TOML's four kinds of string: basic ("…", with escapes), literal ('…', as written), and
/// the multi-line form of each ("""…""", '''…''').
extension TOMLScanner {
    private static let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")

    /// A string of any kind; the scanner is at its opening quote. `multiLine` false for
    /// keys, which cannot be multi-line.
    mutating func string(multiLine: Bool = true) throws(TOMLError) -> String {
        let delimiter = peek() ?? 0
        if peek(1) == delimiter, peek(2) == delimiter {
            guard multiLine else { throw error("a key cannot be a multi-line string") }
            return try multiLineString(delimiter: delimiter)
        }
        skip()
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw error("a string is not closed before the end of the file") }
            switch byte {
            case delimiter:
                skip()
                return String(decoding: out, as: UTF8.self)
            case Self.backslash where delimiter == Self.quote:
                try escape(into: &out)
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                throw error("a string is not closed before the end of the line (strings over several lines start with \(delimiter == Self.quote ? "\"\"\"" : "'''"))")
            default:
                if Self.isForbiddenControl(byte) { throw error("control character \(Self.hex(byte)) in a string (write it as an escape in a \"…\" string)") }
                out.append(byte)
                skip()
            }
        }
    }

    /// `"""…"""` or `'''…'''`: a line end right after the opening is dropped; up to two
    /// delimiter characters may stand next to the closing three.
    private mutating func multiLineString(delimiter: UInt8) throws(TOMLError) -> String {
        skip(3)
        _ = try newline()
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw error("a multi-line string is not closed before the end of the file") }
            switch byte {
            case delimiter:
                var run = 0
                while peek(run) == delimiter { run += 1 }
                if run < 3 {
                    out.append(contentsOf: repeatElement(delimiter, count: run))
                    skip(run)
                    continue
                }
                guard run <= 5 else { throw error("\(run) quotes in a row: a multi-line string may hold at most two next to its closing three") }
                out.append(contentsOf: repeatElement(delimiter, count: run - 3))
                skip(run)
                return String(decoding: out, as: UTF8.self)
            case Self.backslash where delimiter == Self.quote:
                if endsLine(from: 1) {
                    skip()
                    try skipWhitespaceAndLineEnds()
                } else {
                    try escape(into: &out)
                }
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                let start = index
                _ = try newline()
                out.append(contentsOf: bytes[start..<index])
            default:
                if Self.isForbiddenControl(byte) { throw error("control character \(Self.hex(byte)) in a string") }
                out.append(byte)
                skip()
            }
        }
    }

    /// Whether only spaces and tabs stand between `offset` and a line end.
    private func endsLine(from offset: Int) -> Bool {
        var at = offset
        while let byte = peek(at), byte == 0x20 || byte == 0x09 { at += 1 }
        return peek(at) == UInt8(ascii: "\n") || (peek(at) == UInt8(ascii: "\r") && peek(at + 1) == UInt8(ascii: "\n"))
    }

    private mutating func skipWhitespaceAndLineEnds() throws(TOMLError) {
        while true {
            skipSpaces()
            if try !newline() { return }
        }
    }

    /// A backslash escape in a basic string; the scanner is at the backslash.
    private mutating func escape(into out: inout [UInt8]) throws(TOMLError) {
        skip()
        guard let letter = peek() else { throw error("a string is not closed before the end of the file") }
        let simple: [UInt8: UInt8] = [UInt8(ascii: "b"): 0x08, UInt8(ascii: "t"): 0x09, UInt8(ascii: "n"): 0x0a,
                                      UInt8(ascii: "f"): 0x0c, UInt8(ascii: "r"): 0x0d, Self.quote: Self.quote,
                                      Self.backslash: Self.backslash]
        if let byte = simple[letter] {
            out.append(byte)
            skip()
            return
        }
        let digits: Int
        switch letter {
        case UInt8(ascii: "u"): digits = 4
        case UInt8(ascii: "U"): digits = 8
        default: throw error("unknown escape \\\(describeNext().trimmingQuotes) in a string (known: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)")
        }
        skip()
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let byte = peek(), let digit = Self.hexValue(byte) else { throw error("\\\(Character(Unicode.Scalar(letter))) must be followed by \(digits) hex digits") }
            value = value << 4 | UInt32(digit)
            skip()
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw error("\\\(Character(Unicode.Scalar(letter)))\(String(value, radix: 16, uppercase: true)) is not a Unicode scalar value")
        }
        out.append(contentsOf: Array(String(Character(scalar)).utf8))
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

private extension String {
    /// `'x'` → `x`, for quoting a character after a backslash.
    var trimmingQuotes: String {
        hasPrefix("'") && hasSuffix("'") && count >= 3 ? String(dropFirst().dropLast()) : self
    }
}
