/// A TOML 1.0 parser that reports every problem as a `TOMLError` and never stops the
/// process: each read is bounds-checked, numbers are checked for overflow, and nesting
/// is bounded (`maximumDepth` levels of arrays and inline tables, `maximumKeyParts` parts
/// in a dotted key or header), so no input can exhaust the stack.
///
/// Differences from the specification, on purpose: integers must fit in 64 bits (TOML
/// allows a parser to refuse others), and a byte-order mark at the start is skipped.
///
/// Pure; any thread.
public enum TOMLParser {
    public static let maximumDepth = 100
    public static let maximumKeyParts = 64

    /// The document's root table, or the first problem in it.
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = DocumentParser(text)
        return try parser.document()
    }
}

/// One parse: the scanner, the tree, and the table keys currently go into.
private struct DocumentParser {
    var scanner: TOMLScanner
    let tree = TOMLTree()
    var current: TOMLTree.Node
    /// Numbers each `[header]`, `[[header]]` and inline table: dotted keys may add to a
    /// table they made only within the same one.
    var section = 0
    /// Inline tables count down from -1, so they never share a number with a section.
    var inlineTables = 0

    init(_ text: String) {
        scanner = TOMLScanner(text)
        current = tree.root
    }

    mutating func document() throws(TOMLError) -> TOMLTable {
        while true {
            try scanner.skipBlankLines()
            guard let byte = scanner.peek() else { return tree.root.table() }
            if byte == UInt8(ascii: "[") {
                try header()
            } else {
                try keyValue(into: current, section: section)
                try scanner.expectLineEnd(after: "a value")
            }
        }
    }

    /// `[a.b]` or `[[a.b]]`.
    private mutating func header() throws(TOMLError) {
        let start = scanner.error("")
        scanner.skip()
        let isArray = scanner.consume(UInt8(ascii: "["))
        let path = try key()
        let close = isArray ? "]]" : "]"
        guard scanner.consume(UInt8(ascii: "]")), !isArray || scanner.consume(UInt8(ascii: "]")) else {
            throw scanner.error("expected \(close) to close the table name, found \(scanner.describeNext())")
        }
        do {
            current = isArray ? try tree.appendTable(path) : try tree.defineTable(path)
        } catch {
            throw TOMLError(error.message, line: start.line, column: start.column)
        }
        section += 1
        try scanner.expectLineEnd(after: "the table name [\(isArray ? "[" : "")\(describe(path))\(close)")
    }

    /// `key = value` into `table`.
    private mutating func keyValue(into table: TOMLTree.Node, section: Int) throws(TOMLError) {
        let start = scanner.error("")
        let path = try key()
        guard scanner.consume(UInt8(ascii: "=")) else {
            throw scanner.error("expected = after the key \(describe(path)), found \(scanner.describeNext())")
        }
        scanner.skipSpaces()
        let value = try value(depth: 0)
        do {
            try tree.assign(path, value, in: table, section: section)
        } catch {
            throw TOMLError(error.message, line: start.line, column: start.column)
        }
    }

    /// A key: bare, quoted or dotted, with spaces around its parts.
    private mutating func key() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            scanner.skipSpaces()
            guard parts.count < TOMLParser.maximumKeyParts else { throw scanner.error("a key of more than \(TOMLParser.maximumKeyParts) dotted parts") }
            switch scanner.peek() {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                parts.append(try scanner.string(multiLine: false))
            case let byte? where TOMLScanner.isBareKeyByte(byte):
                let start = scanner.index
                while let next = scanner.peek(), TOMLScanner.isBareKeyByte(next) { scanner.skip() }
                parts.append(String(decoding: scanner.bytes[start..<scanner.index], as: UTF8.self))
            default:
                throw scanner.error("expected a key, found \(scanner.describeNext())")
            }
            scanner.skipSpaces()
            if !scanner.consume(UInt8(ascii: ".")) { return parts }
        }
    }

    private mutating func value(depth: Int) throws(TOMLError) -> TOMLValue {
        guard depth < TOMLParser.maximumDepth else {
            throw scanner.error("arrays and inline tables nested more than \(TOMLParser.maximumDepth) deep")
        }
        switch scanner.peek() {
        case nil, UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "#"):
            throw scanner.error("expected a value, found \(scanner.peek() == UInt8(ascii: "#") ? "a comment" : scanner.describeNext()) (a value starts on the line of its key)")
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return .string(try scanner.string())
        case UInt8(ascii: "["):
            return try array(depth: depth)
        case UInt8(ascii: "{"):
            return try inlineTable(depth: depth)
        case UInt8(ascii: "t") where scanner.sees("true"):
            scanner.skip(4)
            return .boolean(true)
        case UInt8(ascii: "f") where scanner.sees("false"):
            scanner.skip(5)
            return .boolean(false)
        default:
            return try scanner.numberOrDateTime()
        }
    }

    /// `[ value, value, ]`, over any number of lines, with comments.
    private mutating func array(depth: Int) throws(TOMLError) -> TOMLValue {
        scanner.skip()
        var elements: [TOMLValue] = []
        while true {
            try scanner.skipBlankLines()
            if scanner.consume(UInt8(ascii: "]")) { return .array(elements) }
            elements.append(try value(depth: depth + 1))
            try scanner.skipBlankLines()
            if scanner.consume(UInt8(ascii: ",")) { continue }
            guard scanner.consume(UInt8(ascii: "]")) else {
                throw scanner.error("expected , or ] after an element of an array, found \(scanner.describeNext())")
            }
            return .array(elements)
        }
    }

    /// `{ key = value, key = value }`, on one line.
    private mutating func inlineTable(depth: Int) throws(TOMLError) -> TOMLValue {
        scanner.skip()
        let table = TOMLTree.Node(.header)
        inlineTables -= 1
        let own = inlineTables
        scanner.skipSpaces()
        if scanner.consume(UInt8(ascii: "}")) { return .table(TOMLTable()) }
        while true {
            let start = scanner.error("")
            let path = try key()
            guard scanner.consume(UInt8(ascii: "=")) else {
                throw scanner.error("expected = after the key \(describe(path)), found \(scanner.describeNext())")
            }
            scanner.skipSpaces()
            let element = try value(depth: depth + 1)
            do {
                try tree.assign(path, element, in: table, section: own)
            } catch {
                throw TOMLError(error.message, line: start.line, column: start.column)
            }
            scanner.skipSpaces()
            if scanner.consume(UInt8(ascii: ",")) {
                scanner.skipSpaces()
                if scanner.peek() == UInt8(ascii: "}") { throw scanner.error("an inline table may not end with a comma") }
                continue
            }
            guard scanner.consume(UInt8(ascii: "}")) else {
                throw scanner.error("expected , or } in an inline table, found \(scanner.describeNext()) (an inline table is written on one line)")
            }
            return .table(table.table())
        }
    }
}
