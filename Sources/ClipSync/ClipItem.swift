import ClipWire

/// A clipboard item whose bytes are all here: its header, its manifest when it is large
/// enough to be fetched in chunks, and the bytes of every representation.
///
/// A reference type, immutable and `Sendable`, so the bytes are shared, not copied, between
/// the engine, sessions streaming it and the backend's thread. Bytes are kept in pieces:
/// the manifest's chunks (a fetched item's chunks lie in the buffers they arrived in), or
/// one piece per representation for a small item.
public final class ClipItem: Sendable {
    public let header: ItemHeader
    /// How the item is chunked; nil for items small enough to travel inline.
    public let manifest: ItemManifest?
    /// Per representation (header order), its bytes in pieces: the manifest's chunks when
    /// there is a manifest, else exactly one piece.
    public let pieces: [[ArraySlice<UInt8>]]
    /// Per representation, all of its bytes as one slice when they lie in one buffer (a
    /// local copy, a small item); nil when only the pieces exist.
    private let wholes: [ArraySlice<UInt8>?]

    /// A small item: `data` is every representation's bytes, concatenated in header order.
    public convenience init(header: ItemHeader, data: [UInt8]) {
        precondition(UInt64(data.count) == header.totalSize, "item data does not match its header")
        let slices = Self.slice(data, header: header)
        self.init(header: header, manifest: nil, pieces: slices.map { [$0] }, wholes: slices)
    }

    /// A chunked item whose bytes lie in one buffer (a local copy): the pieces are the
    /// manifest's chunks, cut from `data`.
    public convenience init(header: ItemHeader, manifest: ItemManifest, data: [UInt8]) {
        precondition(UInt64(data.count) == header.totalSize, "item data does not match its header")
        let slices = Self.slice(data, header: header)
        var pieces: [[ArraySlice<UInt8>]] = []
        for (index, whole) in slices.enumerated() {
            var start = whole.startIndex
            pieces.append(manifest.representations[index].map { chunk in
                defer { start += Int(chunk.size) }
                return whole[start..<start + Int(chunk.size)]
            })
        }
        self.init(header: header, manifest: manifest, pieces: pieces, wholes: slices)
    }

    /// A chunked item assembled from chunks that arrived separately. Every piece must have
    /// its chunk's size.
    public convenience init(header: ItemHeader, manifest: ItemManifest, pieces: [[ArraySlice<UInt8>]]) {
        precondition(pieces.count == manifest.representations.count, "one piece list per representation")
        for (chunks, refs) in zip(pieces, manifest.representations) {
            precondition(chunks.count == refs.count && zip(chunks, refs).allSatisfy { $0.count == Int($1.size) }, "pieces do not match the manifest")
        }
        self.init(header: header, manifest: manifest, pieces: pieces, wholes: pieces.map { Self.whole(of: $0) })
    }

    private init(header: ItemHeader, manifest: ItemManifest?, pieces: [[ArraySlice<UInt8>]], wholes: [ArraySlice<UInt8>?]) {
        self.header = header
        self.manifest = manifest
        self.pieces = pieces
        self.wholes = wholes
    }

    private static func whole(of pieces: [ArraySlice<UInt8>]) -> ArraySlice<UInt8>? {
        switch pieces.count {
        case 0: return ArraySlice<UInt8>()
        case 1: return pieces[0]
        default: return nil
        }
    }

    private static func slice(_ data: [UInt8], header: ItemHeader) -> [ArraySlice<UInt8>] {
        var offset = 0
        return header.representations.map { r in
            defer { offset += Int(r.size) }
            return data[offset..<offset + Int(r.size)]
        }
    }

    public var id: ItemID { header.id }
    public var selection: Selection { header.selection }
    /// Bytes in all representations.
    public var byteCount: Int { Int(header.totalSize) }

    /// Every byte of representation `index` as one slice (joined, a copy, when the item only
    /// has them in pieces).
    public func bytes(representation index: Int) -> ArraySlice<UInt8> {
        if let whole = wholes[index] { return whole }
        var joined: [UInt8] = []
        joined.reserveCapacity(Int(header.representations[index].size))
        for piece in pieces[index] { joined.append(contentsOf: piece) }
        return joined[...]
    }

    /// The bytes of the representation with `mimeType`, if the item has one.
    public func bytes(of mimeType: String) -> ArraySlice<UInt8>? {
        header.representations.firstIndex { $0.mimeType == mimeType }.map { bytes(representation: $0) }
    }

    /// Each representation with its bytes, in header order.
    public var representations: [(mimeType: String, bytes: ArraySlice<UInt8>)] {
        header.representations.indices.map { (header.representations[$0].mimeType, bytes(representation: $0)) }
    }

    /// All representations' bytes, concatenated in header order (a copy).
    public var data: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(byteCount)
        for chunks in pieces { for piece in chunks { out.append(contentsOf: piece) } }
        return out
    }

    /// The piece of representation `index` that holds byte `offset`, and where that piece
    /// starts; the whole rest of the representation when it lies in one buffer.
    public func piece(representation index: Int, at offset: UInt64) -> ArraySlice<UInt8>? {
        let size = header.representations[index].size
        guard offset < size else { return nil }
        if let whole = wholes[index] { return whole[(whole.startIndex + Int(offset))...] }
        var start: UInt64 = 0
        for piece in pieces[index] {
            let end = start + UInt64(piece.count)
            if offset < end { return piece[(piece.startIndex + Int(offset - start))...] }
            start = end
        }
        return nil
    }
}
