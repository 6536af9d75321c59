/// Integers, floats, and dates and times: everything a TOML value can start with a digit,
/// a sign, `inf` or `nan`.
extension TOMLScanner {
    /// A number, date or time; the scanner is at its first byte.
    mutating func numberOrDateTime() throws(TOMLError) -> TOMLValue {
        if Self.isDigit(peek()), Self.isDigit(peek(1)) {
            if Self.isDigit(peek(2)), Self.isDigit(peek(3)), peek(4) == UInt8(ascii: "-") { return .dateTime(try dateTime()) }
            if peek(2) == UInt8(ascii: ":") { return .dateTime(TOMLDateTime(time: try time())) }
        }
        let start = index
        while let byte = peek(), Self.isNumberByte(byte) { skip() }
        let token = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = try Self.number(token, error: { error($0, at: start) }) else {
            throw error(token.isEmpty ? "expected a value, found \(describeNext())" : "\(quoted(token)) is not a number, date or value TOML knows", at: start)
        }
        return value
    }

    /// An error at `position` on the current line.
    func error(_ message: String, at position: Int) -> TOMLError {
        let current = error("")
        return TOMLError(message, line: current.line, column: max(1, current.column - (index - position)))
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        isBareKeyByte(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
    }

    /// `token` as an integer or float, nil when it is neither; throws (through `error`)
    /// for a number written almost right, saying what is wrong.
    static func number(_ token: String, error: (String) -> TOMLError) throws(TOMLError) -> TOMLValue? {
        switch token {
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where token.hasPrefix(prefix) {
            let digits = token.dropFirst(2)
            guard hasValidUnderscores(digits, digit: { Int(String($0), radix: radix) != nil }) else {
                throw error("\(quoted(token)) is not a valid base-\(radix) integer")
            }
            guard let value = Int64(digits.filter { $0 != "_" }, radix: radix) else { throw error("\(token) does not fit in a 64-bit integer") }
            return .integer(value)
        }
        var body = Substring(token)
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        let integerPart = body.prefix { $0 != "." && $0 != "e" && $0 != "E" }
        guard hasValidUnderscores(integerPart, digit: \.isASCIIDigit) else { return nil }
        guard integerPart.count == 1 || integerPart.first != "0" else { throw error("\(quoted(token)): a decimal number may not start with 0") }
        var rest = body.dropFirst(integerPart.count)
        let plain = token.filter { $0 != "_" }
        if rest.isEmpty {
            guard let value = Int64(plain) else { throw error("\(token) does not fit in a 64-bit integer") }
            return .integer(value)
        }
        if rest.first == "." {
            let fraction = rest.dropFirst().prefix { $0 != "e" && $0 != "E" }
            guard hasValidUnderscores(fraction, digit: \.isASCIIDigit) else { throw error("\(quoted(token)): a decimal point must have digits on both sides") }
            rest = rest.dropFirst(1 + fraction.count)
        }
        if rest.first == "e" || rest.first == "E" {
            var exponent = rest.dropFirst()
            if exponent.first == "+" || exponent.first == "-" { exponent = exponent.dropFirst() }
            guard hasValidUnderscores(exponent, digit: \.isASCIIDigit) else { throw error("\(quoted(token)): an exponent must be digits") }
            rest = rest.dropAll()
        }
        guard rest.isEmpty, let value = Double(plain) else { throw error("\(quoted(token)) is not a valid float") }
        return .float(value)
    }

    /// Digits, with each underscore between two digits.
    private static func hasValidUnderscores(_ text: Substring, digit: (Character) -> Bool) -> Bool {
        guard let first = text.first, let last = text.last, digit(first), digit(last) else { return false }
        var previousWasUnderscore = false
        for character in text {
            if character == "_" {
                if previousWasUnderscore { return false }
                previousWasUnderscore = true
            } else {
                guard digit(character) else { return false }
                previousWasUnderscore = false
            }
        }
        return true
    }

    // MARK: dates and times

    /// `YYYY-MM-DD`, optionally followed by `T` (or a space) and a time, and then an offset.
    private mutating func dateTime() throws(TOMLError) -> TOMLDateTime {
        let start = index
        let date = try fields([4, 2, 2], separatedBy: UInt8(ascii: "-"), in: "a date")
        let (year, month, day) = (date[0], date[1], date[2])
        guard (1...12).contains(month) else { throw error("month \(month) does not exist (dates are YYYY-MM-DD)", at: start) }
        guard (1...Self.days(inMonth: month, year: year)).contains(day) else { throw error("day \(day) does not exist in month \(month) of \(year)", at: start) }
        var value = TOMLDateTime(date: .init(year: year, month: month, day: day))
        let separator = peek()
        let spaceThenTime = separator == 0x20 && Self.isDigit(peek(1)) && Self.isDigit(peek(2)) && peek(3) == UInt8(ascii: ":")
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || spaceThenTime else { return value }
        skip()
        value.time = try time()
        switch peek() {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            skip()
            value.offsetMinutes = 0
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = peek() == UInt8(ascii: "-") ? -1 : 1
            skip()
            let offset = try fields([2, 2], separatedBy: UInt8(ascii: ":"), in: "a time offset")
            let (hours, minutes) = (offset[0], offset[1])
            guard hours < 24, minutes < 60 else { throw error("the offset \(hours):\(minutes) is out of range") }
            value.offsetMinutes = sign * (hours * 60 + minutes)
        default: break
        }
        return value
    }

    /// `HH:MM:SS` with optional fractional seconds.
    private mutating func time() throws(TOMLError) -> TOMLDateTime.Time {
        let start = index
        let clock = try fields([2, 2, 2], separatedBy: UInt8(ascii: ":"), in: "a time (TOML 1.0 times are HH:MM:SS)")
        let (hour, minute, second) = (clock[0], clock[1], clock[2])
        guard hour < 24, minute < 60, second < 60 else { throw error("the time \(hour):\(minute):\(second) is out of range", at: start) }
        var fraction = ""
        if consume(UInt8(ascii: ".")) {
            while let byte = peek(), Self.isDigit(byte) {
                fraction.append(Character(Unicode.Scalar(byte)))
                skip()
            }
            guard !fraction.isEmpty else { throw error("a decimal point in a time must be followed by digits") }
        }
        return .init(hour: hour, minute: minute, second: second, fraction: fraction)
    }

    /// Numbers of fixed widths between separators, as in `1979-05-27` and `07:32:00`.
    private mutating func fields(_ widths: [Int], separatedBy separator: UInt8, in what: String) throws(TOMLError) -> [Int] {
        var values: [Int] = []
        for width in widths {
            if !values.isEmpty { try expect(separator, in: what) }
            values.append(try fixedDigits(width))
        }
        return values
    }

    private mutating func fixedDigits(_ count: Int) throws(TOMLError) -> Int {
        var value = 0
        for _ in 0..<count {
            guard let byte = peek(), Self.isDigit(byte) else { throw error("expected a digit in a date or time, found \(describeNext())") }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            skip()
        }
        return value
    }

    private mutating func expect(_ byte: UInt8, in what: String) throws(TOMLError) {
        guard consume(byte) else { throw error("expected '\(Character(Unicode.Scalar(byte)))' in \(what), found \(describeNext())") }
    }

    private static func days(inMonth month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

private extension Substring {
    func dropAll() -> Substring { dropFirst(count) }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
