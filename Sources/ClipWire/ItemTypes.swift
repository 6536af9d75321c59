/// Which selection an item belongs to. Selections are separate streams: an item copied to
/// PRIMARY never replaces the CLIPBOARD item.
public enum Selection: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case clipboard = 0
    case primary = 1

    public var description: String { self == .clipboard ? "clipboard" : "primary" }

    /// Parses "clipboard" or "primary".
    public init?(name: String) {
        switch name.lowercased() {
        case "clipboard": self = .clipboard
        case "primary": self = .primary
        default: return nil
        }
    }
}

/// A device identifier: 16 bytes, derived from the device's static public key.
public struct DeviceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let byteCount = 16
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "device id must be 16 bytes")
        self.bytes = bytes
    }

    /// Lowercase hex.
    public var description: String { bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined() }

    /// Short form for people: the first 8 hex digits.
    public var short: String { String(description.prefix(8)) }

    public static func < (a: DeviceID, b: DeviceID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// An item's identity: the device that created it and that device's counter. Unique
/// forever, never derived from content, so rewritten bytes never break echo suppression.
public struct ItemID: Hashable, Sendable, CustomStringConvertible {
    public let origin: DeviceID
    public let counter: UInt64

    public init(origin: DeviceID, counter: UInt64) {
        self.origin = origin
        self.counter = counter
    }

    public var description: String { "\(origin.short)/\(counter)" }
}

/// A hybrid logical clock reading: milliseconds since the Unix epoch in the high 48 bits and
/// a logical counter in the low 16. Compared as one integer.
public struct HybridTimestamp: Hashable, Sendable, Comparable {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(milliseconds: UInt64, logical: UInt16) {
        rawValue = milliseconds << 16 | UInt64(logical)
    }

    public var milliseconds: UInt64 { rawValue >> 16 }
    public var logical: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    public static func < (a: HybridTimestamp, b: HybridTimestamp) -> Bool { a.rawValue < b.rawValue }
}

/// An item's version. Every peer orders versions the same way: by clock, then by origin id.
/// The greater version wins (last writer wins).
public struct ItemVersion: Hashable, Sendable, Comparable {
    public let clock: HybridTimestamp
    public let origin: DeviceID

    public init(clock: HybridTimestamp, origin: DeviceID) {
        self.clock = clock
        self.origin = origin
    }

    public static func < (a: ItemVersion, b: ItemVersion) -> Bool {
        a.clock != b.clock ? a.clock < b.clock : a.origin < b.origin
    }
}

/// One representation of an item: a MIME type and its size in bytes.
public struct RepresentationInfo: Hashable, Sendable {
    public let mimeType: String
    public let size: UInt64

    public init(mimeType: String, size: UInt64) {
        self.mimeType = mimeType
        self.size = size
    }
}

/// Everything about an item except its bytes.
public struct ItemHeader: Hashable, Sendable {
    /// Most representations one item may carry.
    public static let maximumRepresentations = 32

    public let selection: Selection
    public let id: ItemID
    public let clock: HybridTimestamp
    public let representations: [RepresentationInfo]

    public init(selection: Selection, id: ItemID, clock: HybridTimestamp, representations: [RepresentationInfo]) {
        self.selection = selection
        self.id = id
        self.clock = clock
        self.representations = representations
    }

    public var version: ItemVersion { ItemVersion(clock: clock, origin: id.origin) }

    /// Sum of the representations' sizes.
    public var totalSize: UInt64 { representations.reduce(0) { $0 &+ $1.size } }
}
