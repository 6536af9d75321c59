/// A cursor over a TOML document's UTF-8 bytes that knows its line and column. Every read
/// is bounds-checked (`peek` returns nil past the end), so no input can trap.
///
/// Value type; used by one parse at a time.
struct TOMLScanner {
    let bytes: [UInt8]
    private(set) var index = 0
    private(set) var line = 1
    private var lineStart = 0

    init(_ text: String) {
        bytes = Array(text.utf8)
        if bytes.starts(with: [0xef, 0xbb, 0xbf]) { index = 3; lineStart = 3 }  // a byte-order mark
    }

    var atEnd: Bool { index >= bytes.count }

    /// The byte `offset` places ahead, or nil past the end.
    func peek(_ offset: Int = 0) -> UInt8? {
        let at = index + offset
        return at < bytes.count ? bytes[at] : nil
    }

    /// Whether the bytes ahead are `text`.
    func sees(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        return text.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[index + $0] == expected[$0] }
        }
    }

    /// Moves past `count` bytes that hold no line end.
    mutating func skip(_ count: Int = 1) {
        index = min(index + count, bytes.count)
    }

    /// Moves past `byte` if it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    /// An error at the current position.
    func error(_ message: String) -> TOMLError {
        TOMLError(message, line: line, column: index - lineStart + 1)
    }

    /// Moves past a line end (LF or CRLF) if one is next. A CR alone is an error.
    mutating func newline() throws(TOMLError) -> Bool {
        if peek() == UInt8(ascii: "\r") {
            guard peek(1) == UInt8(ascii: "\n") else { throw error("a carriage return must be followed by a line feed") }
            index += 1
        }
        guard peek() == UInt8(ascii: "\n") else { return false }
        index += 1
        line += 1
        lineStart = index
        return true
    }

    /// Spaces and tabs.
    mutating func skipSpaces() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 { index += 1 }
    }

    /// A comment from `#` to the end of its line (the line end stays), if one is next.
    mutating func skipComment() throws(TOMLError) {
        guard consume(UInt8(ascii: "#")) else { return }
        while let byte = peek(), byte != UInt8(ascii: "\n") {
            if byte == UInt8(ascii: "\r"), peek(1) == UInt8(ascii: "\n") { return }
            if Self.isForbiddenControl(byte) { throw error("control character \(Self.hex(byte)) in a comment") }
            index += 1
        }
    }

    /// Spaces, tabs, comments and line ends, as between an array's elements.
    mutating func skipBlankLines() throws(TOMLError) {
        while true {
            skipSpaces()
            try skipComment()
            if try !newline() { return }
        }
    }

    /// After a key/value pair or a header: spaces, an optional comment, then a line end or
    /// the end of the document.
    mutating func expectLineEnd(after what: String) throws(TOMLError) {
        skipSpaces()
        try skipComment()
        if atEnd { return }
        if try !newline() { throw error("expected the end of the line after \(what), found \(describeNext())") }
    }

    /// The next character for a message: `'x'`, `end of line`, `end of file`.
    func describeNext() -> String {
        guard let byte = peek() else { return "the end of the file" }
        if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { return "the end of the line" }
        if byte < 0x20 || byte == 0x7f { return "control character \(Self.hex(byte))" }
        if byte < 0x80 { return "'\(Character(Unicode.Scalar(byte)))'" }
        var end = index + 1
        while end < bytes.count, bytes[end] & 0xc0 == 0x80 { end += 1 }
        return quoted(String(decoding: bytes[index..<end], as: UTF8.self))
    }

    /// TOML allows no control character but tab in comments and strings (line ends only
    /// where they end a line).
    static func isForbiddenControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != 0x09) || byte == 0x7f
    }

    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): return true
        default: return false
        }
    }

    static func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    static func hex(_ byte: UInt8) -> String {
        "0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
    }
}
