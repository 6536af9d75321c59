import ClipWire
import Testing

@Suite("Handshake frame decoding")
struct HandshakeFrameDecoderTests {
    let frame = HandshakeFrame(kind: .noiseInit, body: Array(repeating: 0xab, count: 100))

    @Test func reassemblesFramesSplitAtEveryByte() throws {
        let bytes = frame.encoded() + HandshakeFrame(kind: .pairFail, body: [2]).encoded()
        var decoder = HandshakeFrameDecoder(resynchronising: false)
        var frames: [HandshakeFrame] = []
        for b in bytes {
            decoder.append([b])
            while let f = try decoder.next() { frames.append(f) }
        }
        #expect(frames == [frame, HandshakeFrame(kind: .pairFail, body: [2])])
    }

    @Test func strictModeRejectsGarbage() {
        var decoder = HandshakeFrameDecoder(resynchronising: false)
        decoder.append(Array("GET / HTTP/1.1\r\n".utf8))
        #expect(throws: WireError.self) { try decoder.next() }
    }

    @Test func strictModeRejectsOversizedLength() {
        var decoder = HandshakeFrameDecoder(resynchronising: false)
        decoder.append(HandshakeFrame.magic + [1, 0x10, 0xff, 0xff])
        #expect(throws: WireError.tooLarge("handshake frame body")) { try decoder.next() }
    }

    @Test func strictModeRejectsOtherVersions() {
        var decoder = HandshakeFrameDecoder(resynchronising: false)
        decoder.append(HandshakeFrame.magic + [2, 0x10, 0, 0])
        #expect(throws: WireError.unsupportedVersion(2)) { try decoder.next() }
    }

    @Test func resyncModeSkipsStaleBytesAndFakeMagic() throws {
        var decoder = HandshakeFrameDecoder(resynchronising: true)
        let stale: [UInt8] = [0, 1, 2] + HandshakeFrame.magic + [9, 9, 9, 9] + Array("CLP".utf8) + [7]
        decoder.append(stale + frame.encoded())
        #expect(try decoder.next() == frame)
        #expect(decoder.discardedBytes == stale.count)
    }
}
