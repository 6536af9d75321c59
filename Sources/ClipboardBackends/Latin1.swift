/// ISO 8859-1, the encoding of the X selection target STRING (ICCCM 2.7.1): each byte is the
/// Unicode scalar of the same value. Pure; callable from any thread.
public enum Latin1 {
    /// UTF-8 for Latin-1 bytes; every byte converts.
    public static func utf8(fromLatin1 bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(where: { $0 >= 0x80 }) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        for byte in bytes {
            if byte < 0x80 {
                out.append(byte)
            } else {
                out.append(0xC0 | byte >> 6)
                out.append(0x80 | byte & 0x3F)
            }
        }
        return out
    }

    /// Latin-1 bytes for UTF-8 text, or nil when it holds a character Latin-1 has no byte
    /// for (or is not UTF-8): such text has no STRING form, and the request is refused.
    public static func latin1(fromUTF8 bytes: some Collection<UInt8>) -> [UInt8]? {
        guard bytes.contains(where: { $0 >= 0x80 }) else { return Array(bytes) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                guard scalar.value <= 0xFF else { return nil }
                out.append(UInt8(scalar.value))
            case .emptyInput:
                return out
            case .error:
                return nil
            }
        }
    }
}
