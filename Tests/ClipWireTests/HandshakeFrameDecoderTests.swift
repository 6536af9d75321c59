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

/// Regression tests for the review of issue 11: decoding must stay linear in its input,
/// and a network connection carries no VM channel frames.
extension HandshakeFrameDecoderTests {
    /// A megabyte of empty frames, fed the way the daemon reads (64 KiB at a time, draining
    /// after each): every byte is copied at most once by compaction. The old decoder shifted
    /// the whole remaining buffer after every frame (a quarter of a terabyte of copying for
    /// this input).
    @Test func framesAreTakenWithoutShiftingTheBufferPerFrame() throws {
        let one = HandshakeFrame(kind: .pairFail, body: []).encoded()
        let stream = Array([[UInt8]](repeating: one, count: (1 << 20) / one.count).joined())
        var decoder = HandshakeFrameDecoder(resynchronising: true)
        var count = 0
        for start in stride(from: 0, to: stream.count, by: 65_536 + 3) {
            decoder.append(stream[start..<min(start + 65_536 + 3, stream.count)])
            while try decoder.next() != nil { count += 1 }
        }
        #expect(count == stream.count / one.count)
        #expect(decoder.movedBytes <= stream.count)
        #expect(decoder.bufferedByteCount == 0)
    }

    /// Resync over a megabyte of bytes that each look like the start of the magic is linear
    /// too: they are skipped by moving an offset, not by removing from the front.
    @Test func resyncOverLookalikeBytesIsLinear() throws {
        var decoder = HandshakeFrameDecoder(resynchronising: true)
        let frame = HandshakeFrame(kind: .noiseInit, body: [1, 2, 3])
        let junk = Array([[UInt8]](repeating: Array("CLPD\u{02}".utf8), count: 200_000).joined())
        for start in stride(from: 0, to: junk.count, by: 65_536) {
            decoder.append(junk[start..<min(start + 65_536, junk.count)])
            #expect(try decoder.next() == nil)
        }
        decoder.append(frame.encoded())
        #expect(try decoder.next() == frame)
        #expect(decoder.discardedBytes == junk.count)
        #expect(decoder.movedBytes <= junk.count)
    }

    @Test func strictModeRefusesVMChannelFrames() {
        for kind in [HandshakeFrame.Kind.channelHello, .channelHelloRequest] {
            var strict = HandshakeFrameDecoder(resynchronising: false)
            strict.append(HandshakeFrame(kind: kind, body: []).encoded())
            #expect(throws: WireError.self) { try strict.next() }
            var channel = HandshakeFrameDecoder(resynchronising: true)
            channel.append(HandshakeFrame(kind: kind, body: []).encoded())
            #expect((try? channel.next())??.kind == kind)
        }
    }
}
