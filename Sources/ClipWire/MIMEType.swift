/// The names a representation's type may have, on the wire and on a desktop: a MIME type
/// (RFC 6838's type "/" subtype, RFC 2045's tokens and parameters) or a bare token, as X11
/// target names are (`UTF8_STRING`, `_NETSCAPE_URL`):
///
///     name      = token [ "/" token ] *( *SP ";" *SP token "=" ( token / quoted ) )
///     token     = 1*( printable ASCII except SP and ()<>@,;:\"/[]?= )
///     quoted    = DQUOTE *( printable ASCII but DQUOTE and "\" / "\" printable ) DQUOTE
///
/// at most 255 bytes. Nothing else is taken from a peer (the offer is malformed) or from
/// a desktop (the type is left out), so a type name can never carry an escape sequence or a
/// line break to a terminal or a log. Pure.
public enum MIMEType {
    public static let maximumLength = 255

    /// Nil when clipd carries `name`, else why not, in words.
    public static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty else { return "it is empty" }
        guard bytes.count <= maximumLength else { return "it is longer than \(maximumLength) bytes" }
        var scanner = Scanner(bytes: bytes)
        guard scanner.token() else { return "it does not start with a token (RFC 2045)" }
        if scanner.take(UInt8(ascii: "/")) && !scanner.token() { return "its subtype is not a token" }
        while !scanner.isAtEnd {
            scanner.spaces()
            guard scanner.take(UInt8(ascii: ";")) else { return "it has characters a MIME type may not hold" }
            scanner.spaces()
            guard scanner.token(), scanner.take(UInt8(ascii: "=")), scanner.token() || scanner.quoted() else {
                return "a parameter is not token=value"
            }
        }
        return nil
    }

    public static func isValid(_ name: String) -> Bool { problem(name) == nil }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        var isAtEnd: Bool { position == bytes.count }

        mutating func take(_ byte: UInt8) -> Bool {
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        mutating func spaces() { while take(0x20) {} }

        /// One or more token characters.
        mutating func token() -> Bool {
            let start = position
            while position < bytes.count, Self.isTokenByte(bytes[position]) { position += 1 }
            return position > start
        }

        /// A quoted string of printable ASCII, `\` escaping the next character.
        mutating func quoted() -> Bool {
            guard take(0x22) else { return false }
            while position < bytes.count {
                let byte = bytes[position]
                position += 1
                switch byte {
                case 0x22: return true
                case 0x5c:
                    guard position < bytes.count, (0x20...0x7e).contains(bytes[position]) else { return false }
                    position += 1
                case 0x20...0x7e: continue
                default: return false
                }
            }
            return false
        }

        /// RFC 2045's tspecials, which a token may not hold.
        static let specials = Set("()<>@,;:\\\"/[]?=".utf8)

        static func isTokenByte(_ byte: UInt8) -> Bool { (0x21...0x7e).contains(byte) && !specials.contains(byte) }
    }
}
