import ClipCrypto
import ClipTestSupport
import Testing

@Suite("SPAKE2 (RFC 9382, P256-SHA256-HKDF-HMAC)")
struct SPAKE2Tests {
    static let names = ["server-client", "empty-client", "server-empty", "empty-empty"]
    let vectors = try! VectorFile(named: "spake2-rfc9382.txt")

    @Test(arguments: names)
    func appendixBVectorPasses(name: String) throws {
        let v = vectors.record(name)
        let a = try SPAKE2(role: .a, w: v.hex("w"), testingScalar: v.hex("x"))
        let b = try SPAKE2(role: .b, w: v.hex("w"), testingScalar: v.hex("y"))
        #expect(a.message == v.hex("pA"))
        #expect(b.message == v.hex("pB"))
        let keysA = try a.finish(peerMessage: b.message, identityA: v.hex("A"), identityB: v.hex("B"))
        let keysB = try b.finish(peerMessage: a.message, identityA: v.hex("A"), identityB: v.hex("B"))
        #expect(keysA.sharedKey == v.hex("Ke"))
        #expect(keysB.sharedKey == v.hex("Ke"))
        #expect(keysA.confirmation == v.hex("cA"))
        #expect(keysB.confirmation == v.hex("cB"))
        #expect(keysA.verifyPeerConfirmation(keysB.confirmation))
        #expect(keysB.verifyPeerConfirmation(keysA.confirmation))
        // The transcript carries K exactly as the RFC encodes it.
        let k = v.hex("K")
        #expect(keysA.transcript.contains(subsequence: k))
    }

    @Test func differentCodesFailConfirmationOnBothSides() throws {
        let wRight = try SPAKE2.passwordScalar(code: Array("acme-adroitness".utf8), context: [])
        let wWrong = try SPAKE2.passwordScalar(code: Array("acme-adviser".utf8), context: [])
        let a = try SPAKE2(role: .a, w: wRight)
        let b = try SPAKE2(role: .b, w: wWrong)
        let keysA = try a.finish(peerMessage: b.message, identityA: [1], identityB: [2])
        let keysB = try b.finish(peerMessage: a.message, identityA: [1], identityB: [2])
        #expect(!keysA.verifyPeerConfirmation(keysB.confirmation))
        #expect(!keysB.verifyPeerConfirmation(keysA.confirmation))
        #expect(keysA.sharedKey != keysB.sharedKey)
    }

    @Test func rejectsMalformedAndOffCurvePoints() throws {
        let w = try SPAKE2.passwordScalar(code: [1, 2, 3, 4], context: [])
        var bad: [[UInt8]] = []
        bad.append([])
        bad.append(SPAKE2.mCompressed)  // compressed form is refused
        bad.append([0x04] + [UInt8](repeating: 0, count: 64))  // not on the curve
        bad.append([0x04] + [UInt8](repeating: 0xff, count: 64))
        var offCurve = try SPAKE2(role: .b, w: w).message
        offCurve[64] ^= 1
        bad.append(offCurve)
        for message in bad {
            let a = try SPAKE2(role: .a, w: w)
            #expect(throws: CryptoError.self) { try a.finish(peerMessage: message, identityA: [], identityB: []) }
        }
    }

    @Test func finishingTwiceIsRefused() throws {
        let w = try SPAKE2.passwordScalar(code: [1], context: [])
        let a = try SPAKE2(role: .a, w: w)
        let b = try SPAKE2(role: .b, w: w)
        _ = try a.finish(peerMessage: b.message, identityA: [1], identityB: [2])
        #expect(throws: CryptoError.self) { try a.finish(peerMessage: b.message, identityA: [1], identityB: [2]) }
    }

    @Test func passwordScalarIsDeterministicAndBelowOrder() throws {
        let one = try SPAKE2.passwordScalar(code: Array("code".utf8), context: Array("ctx".utf8))
        let two = try SPAKE2.passwordScalar(code: Array("code".utf8), context: Array("ctx".utf8))
        let other = try SPAKE2.passwordScalar(code: Array("code".utf8), context: Array("other".utf8))
        #expect(one == two)
        #expect(one != other)
        #expect(one.count == 32)
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard subsequence.count <= count else { return false }
        for start in 0...(count - subsequence.count) where Array(self[start..<start + subsequence.count]) == subsequence {
            return true
        }
        return false
    }
}
