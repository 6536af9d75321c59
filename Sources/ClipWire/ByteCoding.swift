/// Why a frame or message could not be decoded. One line, safe to log.
public enum WireError: Error, Equatable, CustomStringConvertible {
    case truncated(String)
    case malformed(String)
    case tooLarge(String)
    case unsupportedVersion(UInt8)

    public var description: String {
        switch self {
        case .truncated(let what): return "truncated \(what)"
        case .malformed(let what): return "malformed \(what)"
        case .tooLarge(let what): return "\(what) too large"
        case .unsupportedVersion(let v): return "unsupported protocol version \(v)"
        }
    }
}

/// Appends big-endian fields to a byte array.
public struct ByteWriter {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xff)) }
    public mutating func u32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
    public mutating func u64(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
    public mutating func raw<C: Collection>(_ v: C) where C.Element == UInt8 { bytes.append(contentsOf: v) }
    /// A string of at most 255 UTF-8 bytes behind a u8 length.
    public mutating func shortString(_ s: String) {
        let utf8 = Array(s.utf8.prefix(255))
        u8(UInt8(utf8.count))
        raw(utf8)
    }
    /// A byte string of at most 65535 bytes behind a u16 length.
    public mutating func blob16(_ b: [UInt8]) {
        precondition(b.count <= 0xffff)
        u16(UInt16(b.count))
        raw(b)
    }
}

/// Reads big-endian fields from a byte slice, throwing `WireError.truncated` past its end.
public struct ByteReader {
    private let bytes: ArraySlice<UInt8>
    public private(set) var offset: Int
    private let context: String

    public init(_ bytes: [UInt8], context: String) {
        self.bytes = bytes[...]
        self.offset = bytes.startIndex
        self.context = context
    }

    public init(_ bytes: ArraySlice<UInt8>, context: String) {
        self.bytes = bytes
        self.offset = bytes.startIndex
        self.context = context
    }

    public var remaining: Int { bytes.endIndex - offset }
    public var isAtEnd: Bool { remaining == 0 }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw WireError.truncated(context) }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    public mutating func u8() throws -> UInt8 { try take(1).first! }
    public mutating func u16() throws -> UInt16 {
        let s = try take(2)
        return UInt16(s[s.startIndex]) << 8 | UInt16(s[s.startIndex + 1])
    }
    public mutating func u32() throws -> UInt32 {
        try take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }
    public mutating func u64() throws -> UInt64 {
        try take(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
    public mutating func raw(_ n: Int) throws -> [UInt8] { Array(try take(n)) }
    public mutating func rest() -> ArraySlice<UInt8> {
        defer { offset = bytes.endIndex }
        return bytes[offset...]
    }
    public mutating func shortString() throws -> String {
        let n = Int(try u8())
        let raw = try take(n)
        guard let s = String(validating: raw, as: UTF8.self) else { throw WireError.malformed("\(context): string is not UTF-8") }
        return s
    }
    public mutating func blob16() throws -> [UInt8] { try raw(Int(try u16())) }

    /// Throws when bytes are left over: every message has an exact length.
    public func expectEnd() throws {
        guard isAtEnd else { throw WireError.malformed("\(context): \(remaining) trailing bytes") }
    }
}
