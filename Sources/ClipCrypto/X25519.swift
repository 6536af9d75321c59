import COpenSSL

/// An X25519 private key held as its 32 raw bytes.
///
/// A value type: copies share nothing with OpenSSL. Derivations create and free their
/// OpenSSL objects per call, so any thread may use any key.
public struct X25519PrivateKey: Sendable {
    /// The raw private scalar (clamped by X25519 itself when used); all zeros once wiped.
    public private(set) var rawRepresentation: [UInt8]
    /// The matching 32-byte public key.
    public let publicKey: [UInt8]

    /// Generates a fresh key from OpenSSL's private DRBG.
    public static func generate() -> X25519PrivateKey {
        // 32 random bytes are a valid X25519 private key; clamping happens inside X25519.
        try! X25519PrivateKey(rawRepresentation: SecureRandom.bytes(32))
    }

    /// Loads a key from its 32 raw bytes.
    public init(rawRepresentation raw: [UInt8]) throws {
        guard raw.count == 32 else { throw CryptoError.invalidInput("X25519 private key must be 32 bytes") }
        let pkey = try Self.privatePKey(raw)
        defer { EVP_PKEY_free(pkey) }
        var pub = [UInt8](repeating: 0, count: 32)
        var length = 32
        let ok = pub.withUnsafeMutableBufferPointer { EVP_PKEY_get_raw_public_key(pkey, $0.baseAddress, &length) }
        guard ok == 1, length == 32 else { throw CryptoError.fromOpenSSL("EVP_PKEY_get_raw_public_key") }
        rawRepresentation = raw
        publicKey = pub
    }

    /// Overwrites the private scalar with zeros (a key that was copied keeps its bytes in the
    /// copy). The key is unusable afterwards.
    public mutating func wipe() { secureWipe(&rawRepresentation) }

    /// Whether `wipe()` ran.
    public var isWiped: Bool { rawRepresentation.allSatisfy { $0 == 0 } }

    /// The X25519 shared secret with `peerPublicKey`. Throws `invalidPublicValue` when the
    /// result is all zeros (a low-order peer key), as RFC 7748 section 6.1 advises.
    public func sharedSecret(with peerPublicKey: [UInt8]) throws -> [UInt8] {
        guard peerPublicKey.count == 32 else { throw CryptoError.invalidPublicValue("X25519 public key must be 32 bytes") }
        let mine = try Self.privatePKey(rawRepresentation)
        defer { EVP_PKEY_free(mine) }
        guard let peer = peerPublicKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key_ex(nil, "X25519", nil, $0.baseAddress, 32) })
        else { throw CryptoError.fromOpenSSL("EVP_PKEY_new_raw_public_key_ex") }
        defer { EVP_PKEY_free(peer) }
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, mine, nil) else { throw CryptoError.fromOpenSSL("EVP_PKEY_CTX_new_from_pkey") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_derive_init(ctx) == 1 else { throw CryptoError.fromOpenSSL("EVP_PKEY_derive_init") }
        guard EVP_PKEY_derive_set_peer(ctx, peer) == 1 else { throw CryptoError.fromOpenSSL("EVP_PKEY_derive_set_peer") }
        var secret = [UInt8](repeating: 0, count: 32)
        var length = 32
        let ok = secret.withUnsafeMutableBufferPointer { EVP_PKEY_derive(ctx, $0.baseAddress, &length) }
        guard ok == 1, length == 32 else {
            // OpenSSL itself refuses an all-zero result; report it as the peer's fault.
            ERR_clear_error()
            throw CryptoError.invalidPublicValue("X25519 shared secret is zero")
        }
        guard !ConstantTime.equal(secret, [UInt8](repeating: 0, count: 32)) else {
            throw CryptoError.invalidPublicValue("X25519 shared secret is zero")
        }
        return secret
    }

    private static func privatePKey(_ raw: [UInt8]) throws -> OpaquePointer {
        guard let pkey = raw.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key_ex(nil, "X25519", nil, $0.baseAddress, 32) })
        else { throw CryptoError.fromOpenSSL("EVP_PKEY_new_raw_private_key_ex") }
        return pkey
    }
}
