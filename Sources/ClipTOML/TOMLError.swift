/// Why a TOML document was refused, and where: one line for a person.
///
/// Values from the document that appear in `message` (key names) are written as TOML
/// strings, escapes and all, so the message is always printable.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// 1-based line of the problem.
    public let line: Int
    /// 1-based column, counted in bytes of UTF-8.
    public let column: Int

    public init(_ message: String, line: Int, column: Int) {
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String { "\(message) at line \(line), column \(column)" }
}

/// A key path for messages: `a.b."c d"`, each part quoted and escaped unless it is a
/// bare key.
func describe(_ path: some Sequence<String>) -> String {
    path.map { part in
        let bare = !part.isEmpty && part.utf8.allSatisfy(TOMLScanner.isBareKeyByte)
        return bare ? part : quoted(part)
    }.joined(separator: ".")
}

func quoted(_ text: String) -> String { TOMLText.basicString(text) }

/// Writing TOML.
public enum TOMLText {
    /// `text` as a TOML basic string (`"…"`) that reads back as `text`: quotes and
    /// backslashes escaped, every control character, C1 control and invisible format
    /// character as `\uXXXX`, so the result is printable and holds no line break.
    public static func basicString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator:  // C0, DEL and C1 are .control
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += scalar.value > 0xffff ? "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
                        : "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default:
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
