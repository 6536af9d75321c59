import Foundation

/// Reads the test-vector files under protocol/vectors.
///
/// Format: `#` starts a comment line; `[name]` opens a record; `key = value` lines belong to
/// the open record; a value may continue on following lines that start with whitespace
/// (they are concatenated with the whitespace removed, for long hex strings).
public struct VectorFile {
    public struct Record {
        public let name: String
        public let fields: [String: String]

        /// The field's value as bytes parsed from hex. Traps with a clear message when the
        /// field is missing or not hex, which fails the test that asked.
        public func hex(_ key: String) -> [UInt8] {
            guard let value = fields[key] else { fatalError("vector \(name) has no field \(key)") }
            guard let bytes = VectorFile.parseHex(value) else { fatalError("vector \(name) field \(key) is not hex") }
            return bytes
        }

        /// The field's value as text.
        public func text(_ key: String) -> String {
            guard let value = fields[key] else { fatalError("vector \(name) has no field \(key)") }
            return value
        }
    }

    public let records: [Record]

    /// Loads `protocol/vectors/<name>` from the package root.
    public init(named name: String) throws {
        let url = VectorFile.packageRoot.appendingPathComponent("protocol/vectors/\(name)")
        let text = try String(contentsOf: url, encoding: .utf8)
        var records: [Record] = []
        var currentName: String?
        var fields: [String: String] = [:]
        var lastKey: String?
        func flush() {
            if let n = currentName { records.append(Record(name: n, fields: fields)) }
            fields = [:]
            lastKey = nil
        }
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if trimmed.hasPrefix("[") && trimmed.hasSuffix("]") {
                flush()
                currentName = String(trimmed.dropFirst().dropLast())
            } else if line.first == " " || line.first == "\t", let key = lastKey {
                fields[key, default: ""] += trimmed
            } else if let eq = line.firstIndex(of: "=") {
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                fields[key] = value
                lastKey = key
            }
        }
        flush()
        self.records = records
    }

    /// The record with `name`; traps when absent.
    public func record(_ name: String) -> Record {
        guard let r = records.first(where: { $0.name == name }) else { fatalError("no vector named \(name)") }
        return r
    }

    /// The package root, found from this source file's location.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func parseHex(_ text: String) -> [UInt8]? {
        if text == "\"\"" || text.isEmpty { return [] }
        var out: [UInt8] = []
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil ? out : nil
    }
}
