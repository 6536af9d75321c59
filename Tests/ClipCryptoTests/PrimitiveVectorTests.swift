import ClipCrypto
import ClipTestSupport
import Testing

@Suite("OpenSSL primitives against published vectors")
struct PrimitiveVectorTests {
    let vectors = try! VectorFile(named: "primitives.txt")

    @Test func sha256MatchesFIPSVector() {
        let v = vectors.record("sha256-abc")
        #expect(SHA256.hash(v.hex("input")) == v.hex("digest"))
        let hasher = SHA256Hasher()
        hasher.update([0x61])
        hasher.update([0x62, 0x63])
        #expect(hasher.finalize() == v.hex("digest"))
    }

    @Test func hmacMatchesRFC4231() {
        let v = vectors.record("hmac-rfc4231-2")
        #expect(HMACSHA256.mac(key: v.hex("key"), data: v.hex("data")) == v.hex("mac"))
    }

    @Test(arguments: ["hkdf-rfc5869-1", "hkdf-rfc5869-3"])
    func hkdfMatchesRFC5869(name: String) {
        let v = vectors.record(name)
        let okm = v.hex("okm")
        #expect(HKDFSHA256.derive(ikm: v.hex("ikm"), salt: v.hex("salt"), info: v.hex("info"), length: okm.count) == okm)
    }

    @Test(arguments: ["aes256gcm-14", "aes256gcm-16"])
    func aesGCMSealsAndOpensGCMVectors(name: String) throws {
        let v = vectors.record(name)
        let sealer = try AESGCM256(key: v.hex("key"), direction: .seal)
        #expect(try sealer.seal(nonce: v.hex("nonce"), aad: v.hex("aad"), plaintext: v.hex("plaintext")) == v.hex("sealed"))
        let opener = try AESGCM256(key: v.hex("key"), direction: .open)
        #expect(try opener.open(nonce: v.hex("nonce"), aad: v.hex("aad"), ciphertextAndTag: v.hex("sealed")) == v.hex("plaintext"))
    }

    @Test func aesGCMRejectsEveryFlippedBit() throws {
        let v = vectors.record("aes256gcm-16")
        let opener = try AESGCM256(key: v.hex("key"), direction: .open)
        let sealed = v.hex("sealed")
        for index in stride(from: 0, to: sealed.count, by: 7) {
            var bad = sealed
            bad[index] ^= 0x10
            #expect(throws: CryptoError.authenticationFailed) {
                try opener.open(nonce: v.hex("nonce"), aad: v.hex("aad"), ciphertextAndTag: bad)
            }
        }
        var badAAD = v.hex("aad")
        badAAD[0] ^= 1
        #expect(throws: CryptoError.authenticationFailed) {
            try opener.open(nonce: v.hex("nonce"), aad: badAAD, ciphertextAndTag: sealed)
        }
        // The same opener still works for the genuine message after failures.
        #expect(try opener.open(nonce: v.hex("nonce"), aad: v.hex("aad"), ciphertextAndTag: sealed) == v.hex("plaintext"))
    }

    @Test func x25519MatchesRFC7748() throws {
        let v = vectors.record("x25519-rfc7748")
        let alice = try X25519PrivateKey(rawRepresentation: v.hex("alice_private"))
        let bob = try X25519PrivateKey(rawRepresentation: v.hex("bob_private"))
        #expect(alice.publicKey == v.hex("alice_public"))
        #expect(bob.publicKey == v.hex("bob_public"))
        #expect(try alice.sharedSecret(with: bob.publicKey) == v.hex("shared"))
        #expect(try bob.sharedSecret(with: alice.publicKey) == v.hex("shared"))
    }

    @Test func x25519RejectsLowOrderPeerKey() throws {
        let key = X25519PrivateKey.generate()
        #expect(throws: CryptoError.self) { try key.sharedSecret(with: [UInt8](repeating: 0, count: 32)) }
        var one = [UInt8](repeating: 0, count: 32)
        one[0] = 1
        #expect(throws: CryptoError.self) { try key.sharedSecret(with: one) }
    }

    @Test func constantTimeEqualityComparesLengthAndContent() {
        #expect(ConstantTime.equal([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equal([], []))
    }
}
