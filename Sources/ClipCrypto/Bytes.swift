import COpenSSL

extension Array where Element == UInt8 {
    /// Parses lowercase or uppercase hex; whitespace is ignored. Returns nil on odd length or
    /// a non-hex character.
    public init?(hex: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for character in hex.utf8 {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r"): continue
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        guard high == nil else { return nil }
        self = bytes
    }

    /// Lowercase hex, two characters per byte.
    public var hexString: String {
        let digits = Array<UInt8>("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Constant-time helpers backed by OpenSSL.
public enum ConstantTime {
    /// True when both byte strings have the same length and contents. The time taken
    /// depends only on the length, never on where the strings differ.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0
            }
        }
    }
}

/// Overwrites a buffer with zeros in a way the optimiser keeps.
public func secureWipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { OPENSSL_cleanse(base, raw.count) }
    }
}

/// Overwrites raw memory with zeros in a way the optimiser keeps.
public func secureWipe(_ raw: UnsafeMutableRawBufferPointer) {
    if let base = raw.baseAddress, raw.count > 0 { OPENSSL_cleanse(base, raw.count) }
}

/// Cryptographically secure random bytes from OpenSSL's private DRBG.
public enum SecureRandom {
    /// Returns `count` random bytes. Traps only if the system has no entropy source, which
    /// OpenSSL treats as unrecoverable.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        let ok = out.withUnsafeMutableBytes { RAND_priv_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count)) }
        precondition(ok == 1, "OpenSSL RAND_priv_bytes failed: no entropy source")
        return out
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as 4 big-endian bytes.
    @inlinable public mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24)); append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8)); append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends `value` as 8 big-endian bytes.
    @inlinable public mutating func appendBigEndian(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// Appends `value` as 8 little-endian bytes.
    @inlinable public mutating func appendLittleEndian(_ value: UInt64) {
        for shift in stride(from: 0, through: 56, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}
