import ClipTestSupport

/// Random TOML documents for the differential test: mostly valid, with keys drawn from a
/// small set so that headers, dotted keys and inline tables collide often.
struct TOMLDocumentGenerator {
    var random: TestRandom

    init(random: inout TestRandom) {
        self.random = TestRandom(state: random.next() | 1)
    }

    mutating func document() -> String {
        var lines: [String] = []
        for _ in 0..<(1 + random.below(4)) { lines.append(keyValue()) }
        for _ in 0..<random.below(4) {
            switch random.below(3) {
            case 0: lines.append("[[\(key())]]" + trailing())
            default: lines.append("[\(spaces())\(key())\(spaces())]" + trailing())
            }
            for _ in 0..<random.below(3) { lines.append(keyValue()) }
            if random.below(4) == 0 { lines.append(pick(["", "# note", "   ", "\t# é ∞"])) }
        }
        return lines.joined(separator: random.below(8) == 0 ? "\r\n" : "\n") + (random.below(2) == 0 ? "\n" : "")
    }

    /// `document` with one edit: bytes removed, a character inserted, or a piece repeated.
    static func mutate(_ document: String, random: inout TestRandom) -> String {
        var scalars = Array(document.unicodeScalars)
        guard !scalars.isEmpty else { return document }
        let at = random.below(scalars.count)
        switch random.below(3) {
        case 0: scalars.removeSubrange(at..<min(scalars.count, at + 1 + random.below(3)))
        case 1:
            let inserts: [Unicode.Scalar] = ["[", "]", "{", "}", ",", "=", "\"", "'", ".", "\n", "#", " ", "\\", "_",
                                            "e", "0", ":", "-", "+", "T", "\r", "\t", "\u{7f}", "\u{0}", "x", "1", "Z"]
            scalars.insert(inserts[random.below(inserts.count)], at: at)
        default:
            let piece = scalars[at..<min(scalars.count, at + 1 + random.below(6))]
            scalars.insert(contentsOf: piece, at: at)
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }

    private mutating func pick(_ options: [String]) -> String { options[random.below(options.count)] }

    private mutating func spaces() -> String { pick(["", "", " ", "\t"]) }

    private mutating func trailing() -> String { pick(["", "", " ", " # c", "\t#[x] = {"]) }

    private mutating func simpleKey() -> String {
        // A few keys often (collisions), many others sometimes.
        random.below(3) == 0 ? pick(["a", "b", "a", "\"a\"", "'b'", "\"\\u0061\""])
            : pick(["c", "d", "x-1", "_", "1", "true", "\"q k\"", "\"\"", "'a.b'", "\"é\"", "k\(random.below(1000))", "v\(random.below(1000))"])
    }

    private mutating func key() -> String {
        var parts = [simpleKey()]
        while random.below(3) == 0 { parts.append(simpleKey()) }
        return parts.joined(separator: pick([".", ".", " . ", "\t."]))
    }

    private mutating func keyValue() -> String {
        "\(key())\(spaces())=\(pick([" ", " ", "", "\t"]))\(value(depth: 0))\(trailing())"
    }

    private mutating func value(depth: Int) -> String {
        switch random.below(depth > 2 ? 6 : 8) {
        case 0: return integer()
        case 1: return float()
        case 2: return string()
        case 3: return pick(["true", "false"])
        case 4: return dateTime()
        case 5: return string()
        case 6:
            let count = random.below(4)
            let separator = pick([", ", ",", ",\n  ", " ,\n# c\n "])
            let elements = (0..<count).map { _ in value(depth: depth + 1) }
            return "[" + pick(["", " ", "\n"]) + elements.joined(separator: separator) + (count > 0 ? pick(["", ",", ",\n"]) : "") + "]"
        default:
            let count = random.below(4)
            let pairs = (0..<count).map { _ in "\(key()) = \(value(depth: depth + 1))" }
            return "{" + pick(["", " "]) + pairs.joined(separator: pick([", ", ","])) + pick(["", " "]) + "}"
        }
    }

    private mutating func integer() -> String {
        switch random.below(6) {
        case 0: return pick(["0", "+0", "-0", "1", "-17", "+99", "42"])
        case 1: return "1_000" + pick(["", "_000", "_0"])
        case 2: return "0x" + pick(["DEAD_beef", "0", "7fffffffffffffff", "ff"])
        case 3: return "0o" + pick(["755", "0_1", "7"])
        case 4: return "0b" + pick(["1101_0110", "0", "1"])
        default: return String(Int64(bitPattern: random.next()) >> random.below(64))
        }
    }

    private mutating func float() -> String {
        pick(["3.1415", "-0.01", "5e+22", "1e06", "-2E-2", "6.626e-34", "224_617.445_991_228", "-0.0", "+1.0",
              "inf", "-inf", "nan", "+nan", "1_0.0_1e1_0", "0.0", "0e0", "1E+0"])
    }

    private mutating func string() -> String {
        switch random.below(6) {
        case 0: return pick(["\"plain\"", "\"tab\\there\"", "\"\\u00e9\\U0001F600\"", "\"q\\\"q\\\\\"", "\"\"", "\"é ∞ 😀\"", "\"\\b\\f\\r\\n\""])
        case 1: return pick(["'C:\\path'", "''", "'say \"hi\"'", "'a\tb'"])
        case 2: return pick(["\"\"\"\none\ntwo\"\"\"", "\"\"\"a \\\n   b\"\"\"", "\"\"\"x\"\"\"\"", "\"\"\"x\"\"\"\"\"", "\"\"\"\"\"\"", "\"\"\"\\\n\n  \"\"\""])
        case 3: return pick(["'''\nraw\\n'''", "'''x''''", "'''x'''''", "''''''", "'''a\n'b'\n'''"])
        case 4: return "\"k\(random.below(100))\""
        default: return "'\(pick(["[", "]", "{", "}", "#", "=", ","]))'"
        }
    }

    private mutating func dateTime() -> String {
        let date = String(format: "%04d-%02d-%02d", 1 + random.below(9999), 1 + random.below(12), 1 + random.below(28))
        let time = String(format: "%02d:%02d:%02d", random.below(24), random.below(60), random.below(60)) + pick(["", ".5", ".123456789", ".000"])
        let offset = pick(["Z", "z", "+05:30", "-07:00", "+00:00", ""])
        switch random.below(4) {
        case 0: return date
        case 1: return time
        default: return date + pick(["T", "t", " "]) + time + offset
        }
    }
}
