import ClipWire

/// A complete clipboard item: its header and the bytes of every representation,
/// concatenated in header order.
///
/// A reference type so the bytes are shared, not copied, between the engine, sessions
/// streaming it and the backend. Immutable.
public final class ClipItem: Sendable {
    public let header: ItemHeader
    /// All representations' bytes, concatenated in header order.
    public let data: [UInt8]

    public init(header: ItemHeader, data: [UInt8]) {
        precondition(UInt64(data.count) == header.totalSize, "item data does not match its header")
        self.header = header
        self.data = data
    }

    public var id: ItemID { header.id }
    public var selection: Selection { header.selection }

    /// The bytes of the representation with `mimeType`, if the item has one.
    public func bytes(of mimeType: String) -> ArraySlice<UInt8>? {
        var offset = 0
        for r in header.representations {
            let end = offset + Int(r.size)
            if r.mimeType == mimeType { return data[offset..<end] }
            offset = end
        }
        return nil
    }

    /// Each representation with its bytes, in header order.
    public var representations: [(mimeType: String, bytes: ArraySlice<UInt8>)] {
        var offset = 0
        return header.representations.map { r in
            defer { offset += Int(r.size) }
            return (r.mimeType, data[offset..<offset + Int(r.size)])
        }
    }
}
