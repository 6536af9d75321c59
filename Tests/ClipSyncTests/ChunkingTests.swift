import ClipCrypto
import ClipSync
import ClipTestSupport
import ClipWire
import Testing

@Suite("Content-defined chunking and manifests")
struct ChunkingTests {
    let chunker = ContentChunker()

    func lengths(_ bytes: [UInt8]) -> [Int] { bytes.withUnsafeBytes { chunker.chunkLengths($0) } }

    @Test func cutPointsMatchTheIndependentVector() throws {
        let v = try VectorFile(named: "chunking.txt").record("chunker")
        var input: [UInt8] = []
        var counter: UInt32 = 0
        let size = Int(v.text("input_size"))!
        while input.count < size {
            input += SHA256.hash(Array("clipd chunk vector".utf8) + withUnsafeBytes(of: counter.bigEndian) { Array($0) })
            counter += 1
        }
        input = Array(input.prefix(size))
        let expected = v.text("lengths").split(separator: ",").map { Int($0)! }
        #expect(lengths(input) == expected)
        #expect(hashes(input).map { $0.bytes.hexString } == v.text("hashes").split(separator: ",").map(String.init))
    }

    @Test func chunksStayWithinTheirBoundsAndCoverTheInput() {
        let bytes = pattern(5 << 20)
        let cut = lengths(bytes)
        #expect(cut.reduce(0, +) == bytes.count)
        #expect(cut.dropLast().allSatisfy { $0 >= chunker.minimumSize && $0 <= chunker.maximumSize })
        let average = bytes.count / cut.count
        #expect(average > 32 << 10 && average < 128 << 10, "average chunk \(average) bytes")
    }

    @Test func cutPointsDependOnContentOnly() {
        let bytes = lorem(3 << 20)
        #expect(lengths(bytes) == lengths(bytes))
        #expect(lengths([]) == [])
        #expect(lengths(Array(bytes.prefix(100))) == [100])
    }

    @Test func anInsertionChangesOnlyTheChunksAroundIt() {
        let original = lorem(6 << 20)
        var edited = original
        edited.insert(contentsOf: Array("inserted text".utf8), at: 3 << 20)
        let a = Set(hashes(original)), b = hashes(edited)
        let changed = b.filter { !a.contains($0) }.count
        #expect(changed <= 3, "\(changed) of \(b.count) chunks changed")
    }

    @Test func theManifestMatchesTheBytesAndTheirHashes() throws {
        let text = lorem(1 << 20), html = pattern(300_000)
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID(bytes: Array(repeating: 1, count: 16)), counter: 1),
                                clock: HybridTimestamp(rawValue: 1),
                                representations: [RepresentationInfo(mimeType: "text/plain", size: UInt64(text.count)),
                                                  RepresentationInfo(mimeType: "text/html", size: UInt64(html.count))])
        let item = ItemChunking.chunked(header: header, data: text + html, parallel: { count, body in for i in (0..<count).reversed() { body(i) } })
        let manifest = try #require(item.manifest)
        #expect(item.bytes(representation: 0) == text[...] && item.bytes(representation: 1) == html[...])
        for (refs, pieces) in zip(manifest.representations, item.pieces) {
            for (ref, piece) in zip(refs, pieces) {
                #expect(ChunkHash.of(piece) == ref.hash && Int(ref.size) == piece.count)
            }
        }
        // The manifest survives an offer on the wire.
        let decoded = try SessionMessage.decode(SessionMessage.offer(.init(header: header, manifest: manifest)).encoded())
        #expect(decoded == .offer(.init(header: header, manifest: manifest)))
    }

    @Test func aManifestThatDoesNotAddUpIsMalformed() throws {
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID(bytes: Array(repeating: 1, count: 16)), counter: 1),
                                clock: HybridTimestamp(rawValue: 1), representations: [RepresentationInfo(mimeType: "a/b", size: 100_000)])
        let wrong = ItemManifest(representations: [[ChunkRef(hash: ChunkHash(bytes: [UInt8](repeating: 0, count: 32)), size: 99_999)]])
        #expect(throws: WireError.self) { try SessionMessage.decode(SessionMessage.offer(.init(header: header, manifest: wrong)).encoded()) }
        let empty = ItemManifest(representations: [[ChunkRef(hash: ChunkHash(bytes: [UInt8](repeating: 0, count: 32)), size: 0),
                                                    ChunkRef(hash: ChunkHash(bytes: [UInt8](repeating: 0, count: 32)), size: 100_000)]])
        #expect(throws: WireError.self) { try SessionMessage.decode(SessionMessage.offer(.init(header: header, manifest: empty)).encoded()) }
    }

    @Test func aLargerScaleCutsLargerChunks() {
        let scaled = ContentChunker(scale: 4)
        #expect(scaled.minimumSize == 4 * chunker.minimumSize && scaled.maximumSize == 4 * chunker.maximumSize)
        let cut = pattern(8 << 20).withUnsafeBytes { scaled.chunkLengths($0) }
        #expect(cut.dropLast().allSatisfy { $0 >= scaled.minimumSize && $0 <= scaled.maximumSize })
    }

    func hashes(_ bytes: [UInt8]) -> [ChunkHash] {
        var out: [ChunkHash] = []
        var offset = 0
        for length in lengths(bytes) {
            out.append(ChunkHash.of(bytes[offset..<offset + length]))
            offset += length
        }
        return out
    }
}
