/// ISO 8859-1, the encoding of the X selection target STRING (ICCCM 2.7.1): each byte is the
/// Unicode scalar of the same value. Pure; callable from any thread.
public enum Latin1 {
    /// UTF-8 for Latin-1 bytes; every byte converts.
    public static func utf8(fromLatin1 bytes: [UInt8]) -> [UInt8] {
        Array(String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) })).utf8)
    }

    /// Latin-1 bytes for UTF-8 text, or nil when it holds a character Latin-1 has no byte
    /// for (or is not UTF-8): such text has no STRING form, and the request is refused.
    public static func latin1(fromUTF8 bytes: some Collection<UInt8>) -> [UInt8]? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            out.append(UInt8(scalar.value))
        }
        return out
    }
}
