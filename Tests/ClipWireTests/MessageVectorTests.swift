import ClipCrypto
import ClipTestSupport
import ClipWire
import Testing

@Suite("Session messages against protocol/vectors/messages.txt")
struct MessageVectorTests {
    let vectors = try! VectorFile(named: "messages.txt")
    let origin = DeviceID(bytes: Array(0x10...0x1f))
    let clock = HybridTimestamp(milliseconds: 1_700_000_000_000, logical: 3)

    var expected: [String: SessionMessage] {
        let text = Array("hello, world".utf8)
        return [
            "hello": .hello(.init(deviceName: "desk", maximumItemSize: 64 << 20)),
            "offer-inline": .offer(.init(
                header: ItemHeader(selection: .clipboard, id: ItemID(origin: origin, counter: 7), clock: clock,
                                   representations: [RepresentationInfo(mimeType: "text/plain;charset=utf-8", size: UInt64(text.count))]),
                inlineData: text)),
            "offer-manifest": .offer(.init(
                header: ItemHeader(selection: .primary, id: ItemID(origin: origin, counter: 8), clock: clock,
                                   representations: [RepresentationInfo(mimeType: "text/html", size: 100_000),
                                                     RepresentationInfo(mimeType: "text/plain;charset=utf-8", size: 70_000)]),
                manifest: ItemManifest(representations: [[chunk(0, 60_000), chunk(1, 40_000)], [chunk(2, 70_000)]]))),
            "fetch": .fetch(.init(requestID: 5, item: ItemID(origin: origin, counter: 8), representation: 1, offset: 65_536, length: 131_072)),
            "data": .data(.init(requestID: 5, offset: 65_536, bytes: [0, 1, 2][...])),
            "data-end": .dataEnd(.init(requestID: 5, length: 131_072)),
            "fetch-failed": .fetchFailed(.init(requestID: 5, reason: .badRange)),
            "ack": .ack(.init(item: ItemID(origin: origin, counter: 7), status: .applied)),
            "cancel": .cancel(.init(requestID: 5)),
            "ping": .ping(token: 0x0123_4567_89AB_CDEF),
            "pong": .pong(token: 0x0123_4567_89AB_CDEF),
        ]
    }

    func chunk(_ n: Int, _ size: UInt32) -> ChunkRef {
        ChunkRef(hash: ChunkHash(bytes: SHA256.hash(Array("vector chunk \(n)".utf8))), size: size)
    }

    @Test(arguments: ["hello", "offer-inline", "offer-manifest", "fetch", "data", "data-end", "fetch-failed", "ack", "cancel", "ping", "pong"])
    func encodesAndDecodesExactly(name: String) throws {
        let message = try #require(expected[name])
        let bytes = vectors.record(name).hex("bytes")
        #expect(message.encoded() == bytes)
        #expect(try SessionMessage.decode(bytes) == message)
    }

    @Test func unknownTypeIsIgnoredNotAnError() throws {
        #expect(try SessionMessage.decode(vectors.record("unknown").hex("bytes")) == .unknown(type: 0x7f))
    }

    @Test func anOfferOfTheFirstProtocolVersionIsMalformed() throws {
        var bytes = vectors.record("offer-inline").hex("bytes")
        let kind = bytes.count - 13  // the byte before "hello, world"
        bytes[kind] = 0  // version 1's "fetch it" flag: no such kind in version 2
        #expect(throws: WireError.self) { try SessionMessage.decode(Array(bytes.prefix(kind + 1))) }
    }

    @Test func frameVector() throws {
        let frame = HandshakeFrame(kind: .pairFail, body: [1])
        #expect(frame.encoded() == vectors.record("frame-pair-fail").hex("bytes"))
    }

    @Test func everyTruncationOfEveryMessageIsRejected() throws {
        for name in expected.keys where name != "data" {
            let bytes = vectors.record(name).hex("bytes")
            for cut in 1..<bytes.count {
                let prefix = Array(bytes.prefix(cut))
                if let decoded = try? SessionMessage.decode(prefix) {
                    Issue.record("\(name) cut at \(cut) decoded as \(decoded)")
                }
            }
        }
    }

    @Test func trailingBytesAreRejected() {
        let bytes = vectors.record("ack").hex("bytes") + [0]
        #expect(throws: WireError.self) { try SessionMessage.decode(bytes) }
    }

    @Test func inlineDataMustMatchHeaderSize() {
        var bytes = vectors.record("offer-inline").hex("bytes")
        bytes.append(0x21)
        #expect(throws: WireError.self) { try SessionMessage.decode(bytes) }
    }

    @Test func repeatedMimeTypeIsRejected() throws {
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: origin, counter: 1), clock: clock,
                                representations: [RepresentationInfo(mimeType: "a/b", size: 1), RepresentationInfo(mimeType: "a/b", size: 1)])
        let bytes = SessionMessage.offer(.init(header: header, inlineData: [1, 2])).encoded()
        #expect(throws: WireError.self) { try SessionMessage.decode(bytes) }
    }
}
