/// Messages inside an established, encrypted session (protocol/sync.md). Each is the
/// plaintext of one record: a type byte, then the body.
public enum SessionMessage: Equatable, Sendable {
    /// First message each side sends: who it is and what it accepts.
    case hello(Hello)
    /// An item is available. Small items carry their bytes; larger ones their manifest, and
    /// their bytes are fetched by range.
    case offer(Offer)
    /// Asks for a range of one representation of an offered item.
    case fetch(Fetch)
    /// Bytes of a fetched range.
    case data(DataChunk)
    /// The end of a fetched range.
    case dataEnd(DataEnd)
    /// A fetch cannot be served (or no longer: the source went away).
    case fetchFailed(FetchFailed)
    /// What the receiver of an offer did with it.
    case ack(Ack)
    /// The fetching side no longer wants a range it asked for.
    case cancel(Cancel)
    /// Are you there? Sent only while something waits on the peer and it has been silent
    /// (protocol/sync.md, Liveness); answered at once with PONG carrying the same token.
    case ping(token: UInt64)
    /// The answer to PING.
    case pong(token: UInt64)
    /// An unknown type inside an authenticated session: ignored, for forward compatibility.
    case unknown(type: UInt8)

    /// The sync protocol version this code speaks (HELLO's first field).
    public static let protocolVersion: UInt8 = 2

    public struct Hello: Equatable, Sendable {
        public var protocolVersion: UInt8
        public var deviceName: String
        public var maximumItemSize: UInt64
        public init(protocolVersion: UInt8 = SessionMessage.protocolVersion, deviceName: String, maximumItemSize: UInt64) {
            self.protocolVersion = protocolVersion
            self.deviceName = deviceName
            self.maximumItemSize = maximumItemSize
        }
    }

    public struct Offer: Equatable, Sendable {
        public var header: ItemHeader
        /// All representations' bytes, concatenated in header order, for a small item.
        public var inlineData: [UInt8]?
        /// How a larger item is chunked; its bytes are fetched. Exactly one of the two is set.
        public var manifest: ItemManifest?

        /// An offer carrying the item's bytes.
        public init(header: ItemHeader, inlineData: [UInt8]) {
            self.header = header
            self.inlineData = inlineData
            self.manifest = nil
        }

        /// An offer carrying the item's manifest.
        public init(header: ItemHeader, manifest: ItemManifest) {
            self.header = header
            self.inlineData = nil
            self.manifest = manifest
        }
    }

    public struct Fetch: Equatable, Sendable {
        public var requestID: UInt32
        public var item: ItemID
        /// Index of the representation in the item's header.
        public var representation: UInt8
        public var offset: UInt64
        public var length: UInt64
        public init(requestID: UInt32, item: ItemID, representation: UInt8, offset: UInt64, length: UInt64) {
            self.requestID = requestID
            self.item = item
            self.representation = representation
            self.offset = offset
            self.length = length
        }
    }

    /// Bytes at `offset` of the fetched representation. A sender may give the bytes in
    /// several pieces (chunks lying in different buffers); they go into one record.
    public struct DataChunk: Equatable, Sendable {
        public var requestID: UInt32
        public var offset: UInt64
        public var parts: [ArraySlice<UInt8>]
        public init(requestID: UInt32, offset: UInt64, bytes: ArraySlice<UInt8>) {
            self.init(requestID: requestID, offset: offset, parts: [bytes])
        }
        public init(requestID: UInt32, offset: UInt64, parts: [ArraySlice<UInt8>]) {
            self.requestID = requestID
            self.offset = offset
            self.parts = parts
        }
        /// The bytes, joined (a copy when there are several parts).
        public var bytes: ArraySlice<UInt8> { parts.count == 1 ? parts[0] : ArraySlice(parts.joined()) }
        public var byteCount: Int { parts.reduce(0) { $0 + $1.count } }
        public static func == (a: DataChunk, b: DataChunk) -> Bool {
            a.requestID == b.requestID && a.offset == b.offset && a.bytes.elementsEqual(b.bytes)
        }
    }

    public struct DataEnd: Equatable, Sendable {
        public var requestID: UInt32
        /// Bytes sent for the request: its range's length.
        public var length: UInt64
        public init(requestID: UInt32, length: UInt64) {
            self.requestID = requestID
            self.length = length
        }
    }

    public struct FetchFailed: Equatable, Sendable {
        public enum Reason: UInt8, Sendable {
            /// The item is not (or no longer) held or reachable here.
            case notHeld = 1
            /// Over a limit of the sender.
            case tooLarge = 2
            /// The sender cannot serve it now.
            case busy = 3
            /// The range lies outside the representation, or names no representation.
            case badRange = 4
            /// A relay lost every source of the item during the transfer.
            case unavailable = 5
        }
        public var requestID: UInt32
        public var reason: Reason
        public init(requestID: UInt32, reason: Reason) {
            self.requestID = requestID
            self.reason = reason
        }
    }

    public struct Ack: Equatable, Sendable {
        public enum Status: UInt8, Sendable {
            /// The item is now this peer's current item for its selection.
            case applied = 0
            /// The peer already held this item.
            case alreadyHeld = 1
            /// The peer holds a newer item; this one lost.
            case superseded = 2
            /// The item exceeds the peer's maximum size.
            case tooLarge = 3
            /// The bytes could not be fetched or did not verify.
            case failed = 4
            /// The peer did not take the item: it does not sync this selection (or, for a
            /// guest's SPICE agent, takes none of the item's types).
            case ignored = 5
            /// The peer's policy for this sender refuses it: the direction, the selection or
            /// the MIME types are not allowed, or the offer claimed the receiver's own origin.
            case refused = 6
            /// The item's clock is further ahead of the peer's wall clock than it accepts.
            case clockAhead = 7
        }
        public var item: ItemID
        public var status: Status
        public init(item: ItemID, status: Status) {
            self.item = item
            self.status = status
        }
    }

    public struct Cancel: Equatable, Sendable {
        public var requestID: UInt32
        public init(requestID: UInt32) { self.requestID = requestID }
    }

    enum TypeCode: UInt8 {
        case hello = 0x01, offer = 0x02, fetch = 0x03, data = 0x04, dataEnd = 0x05, fetchFailed = 0x06, ack = 0x07, cancel = 0x08
        case ping = 0x09, pong = 0x0a
    }

    /// Offer kinds: the item's bytes follow, or its manifest.
    enum OfferKind: UInt8 { case inline = 1, manifest = 2 }

    /// Header bytes of a DATA message before its payload.
    public static let dataHeaderByteCount = 1 + 4 + 8

    /// The first `dataHeaderByteCount` bytes of a DATA message; its payload follows, so a
    /// sender can seal header and payload without joining them.
    public static func dataHeader(requestID: UInt32, offset: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: dataHeaderByteCount)
        w.u8(TypeCode.data.rawValue)
        w.u32(requestID)
        w.u64(offset)
        return w.bytes
    }
}

// MARK: Encoding

extension SessionMessage {
    /// The record plaintext for this message.
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        switch self {
        case .hello(let h):
            w.u8(TypeCode.hello.rawValue)
            w.u8(h.protocolVersion)
            w.shortString(h.deviceName)
            w.u64(h.maximumItemSize)
        case .offer(let o):
            w = ByteWriter(capacity: 128 + (o.inlineData?.count ?? 0) + (o.manifest?.encodedByteCount ?? 0))
            w.u8(TypeCode.offer.rawValue)
            Self.writeHeader(o.header, into: &w)
            if let data = o.inlineData {
                w.u8(OfferKind.inline.rawValue)
                w.raw(data)
            } else if let manifest = o.manifest {
                w.u8(OfferKind.manifest.rawValue)
                manifest.write(into: &w)
            }
        case .fetch(let f):
            w.u8(TypeCode.fetch.rawValue)
            w.u32(f.requestID)
            Self.writeItemID(f.item, into: &w)
            w.u8(f.representation)
            w.u64(f.offset)
            w.u64(f.length)
        case .data(let d):
            w = ByteWriter(capacity: Self.dataHeaderByteCount + d.byteCount)
            w.raw(Self.dataHeader(requestID: d.requestID, offset: d.offset))
            for part in d.parts { w.raw(part) }
        case .dataEnd(let e):
            w.u8(TypeCode.dataEnd.rawValue)
            w.u32(e.requestID)
            w.u64(e.length)
        case .cancel(let c):
            w.u8(TypeCode.cancel.rawValue)
            w.u32(c.requestID)
        case .fetchFailed(let f):
            w.u8(TypeCode.fetchFailed.rawValue)
            w.u32(f.requestID)
            w.u8(f.reason.rawValue)
        case .ack(let a):
            w.u8(TypeCode.ack.rawValue)
            Self.writeItemID(a.item, into: &w)
            w.u8(a.status.rawValue)
        case .ping(let token):
            w.u8(TypeCode.ping.rawValue)
            w.u64(token)
        case .pong(let token):
            w.u8(TypeCode.pong.rawValue)
            w.u64(token)
        case .unknown(let type):
            w.u8(type)
        }
        return w.bytes
    }

    static func writeItemID(_ id: ItemID, into w: inout ByteWriter) {
        w.raw(id.origin.bytes)
        w.u64(id.counter)
    }

    static func writeHeader(_ h: ItemHeader, into w: inout ByteWriter) {
        w.u8(h.selection.rawValue)
        writeItemID(h.id, into: &w)
        w.u64(h.clock.rawValue)
        w.u8(UInt8(h.representations.count))
        for r in h.representations {
            w.shortString(r.mimeType)
            w.u64(r.size)
        }
    }
}

// MARK: Decoding

extension SessionMessage {
    /// Decodes one record plaintext. Unknown types decode to `.unknown`; malformed known
    /// types throw, which ends the session.
    public static func decode(_ bytes: [UInt8]) throws -> SessionMessage {
        var r = ByteReader(bytes, context: "session message")
        let type = try r.u8()
        guard let code = TypeCode(rawValue: type) else { return .unknown(type: type) }
        let message: SessionMessage
        switch code {
        case .hello:
            let version = try r.u8()
            let name = try r.shortString()
            let maximum = try r.u64()
            message = .hello(Hello(protocolVersion: version, deviceName: name, maximumItemSize: maximum))
        case .offer:
            let header = try readHeader(&r)
            let kind = try r.u8()
            switch OfferKind(rawValue: kind) {
            case .inline:
                let data = Array(r.rest())
                guard UInt64(data.count) == header.totalSize else {
                    throw WireError.malformed("offer: inline data is \(data.count) bytes, header says \(header.totalSize)")
                }
                message = .offer(Offer(header: header, inlineData: data))
            case .manifest:
                message = .offer(Offer(header: header, manifest: try ItemManifest.read(&r, for: header)))
            case nil: throw WireError.malformed("offer: kind \(kind)")
            }
        case .fetch:
            let request = try r.u32()
            let item = try readItemID(&r)
            message = .fetch(Fetch(requestID: request, item: item, representation: try r.u8(), offset: try r.u64(), length: try r.u64()))
        case .data:
            let request = try r.u32()
            let offset = try r.u64()
            message = .data(DataChunk(requestID: request, offset: offset, bytes: r.rest()))
        case .dataEnd:
            message = .dataEnd(DataEnd(requestID: try r.u32(), length: try r.u64()))
        case .cancel:
            message = .cancel(Cancel(requestID: try r.u32()))
        case .fetchFailed:
            let request = try r.u32()
            guard let reason = FetchFailed.Reason(rawValue: try r.u8()) else { throw WireError.malformed("fetch-failed reason") }
            message = .fetchFailed(FetchFailed(requestID: request, reason: reason))
        case .ack:
            let item = try readItemID(&r)
            guard let status = Ack.Status(rawValue: try r.u8()) else { throw WireError.malformed("ack status") }
            message = .ack(Ack(item: item, status: status))
        case .ping:
            message = .ping(token: try r.u64())
        case .pong:
            message = .pong(token: try r.u64())
        }
        try r.expectEnd()
        return message
    }

    static func readItemID(_ r: inout ByteReader) throws -> ItemID {
        let origin = DeviceID(bytes: try r.raw(DeviceID.byteCount))
        return ItemID(origin: origin, counter: try r.u64())
    }

    static func readHeader(_ r: inout ByteReader) throws -> ItemHeader {
        guard let selection = Selection(rawValue: try r.u8()) else { throw WireError.malformed("offer: unknown selection") }
        let id = try readItemID(&r)
        let clock = HybridTimestamp(rawValue: try r.u64())
        let count = Int(try r.u8())
        guard count >= 1, count <= ItemHeader.maximumRepresentations else {
            throw WireError.malformed("offer: \(count) representations")
        }
        var representations: [RepresentationInfo] = []
        var seen = Set<String>()
        var total: UInt64 = 0
        for _ in 0..<count {
            let mime = try r.shortString()
            if let problem = MIMEType.problem(mime) { throw WireError.malformed("offer: a type name that is not a MIME type (\(problem))") }
            guard seen.insert(mime).inserted else { throw WireError.malformed("offer: repeated MIME type") }
            let size = try r.u64()
            let (sum, overflow) = total.addingReportingOverflow(size)
            guard !overflow else { throw WireError.malformed("offer: sizes overflow") }
            total = sum
            representations.append(RepresentationInfo(mimeType: mime, size: size))
        }
        return ItemHeader(selection: selection, id: id, clock: clock, representations: representations)
    }
}
