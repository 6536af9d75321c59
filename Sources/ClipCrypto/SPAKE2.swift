import COpenSSL

/// SPAKE2 over P-256 with SHA-256, HKDF-SHA256 and HMAC-SHA256, exactly as RFC 9382
/// specifies (ciphersuite "P256-SHA256-HKDF-HMAC").
///
/// - The blinding points M and N are the RFC's fixed constants, never taken from a peer.
/// - Scalars are full size, drawn uniformly below the group order.
/// - Received points must be 65-byte uncompressed SEC1 encodings of a point on the curve
///   that is not the identity; a shared point equal to the identity aborts.
/// - x*G and w*M are separate `EC_POINT_mul` calls, so OpenSSL's constant-time ladder
///   handles each secret scalar alone.
///
/// One instance runs one exchange. It is not thread-safe; give it one owner.
public final class SPAKE2 {
    /// Which side of the exchange this instance plays. A sends pA = x*G + w*M, B sends
    /// pB = y*G + w*N.
    public enum Role: Sendable { case a, b }

    /// Byte length of a protocol message (an uncompressed P-256 point).
    public static let messageByteCount = 65

    /// RFC 9382's M for P-256, compressed SEC1.
    public static let mCompressed = [UInt8](hex: "02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f")!
    /// RFC 9382's N for P-256, compressed SEC1.
    public static let nCompressed = [UInt8](hex: "03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49")!

    /// This side's message, to send to the peer.
    public private(set) var message: [UInt8]

    private let role: Role
    private let group: OpaquePointer
    private let bnContext: OpaquePointer
    private let w: OpaquePointer
    private let scalar: OpaquePointer
    private var finished = false

    /// Starts an exchange.
    /// - Parameters:
    ///   - role: A or B.
    ///   - w: the password scalar as 32 big-endian bytes (see `passwordScalar(code:context:)`).
    ///   - testingScalar: fixes x (or y) for test vectors; never set it in production.
    public init(role: Role, w wBytes: [UInt8], testingScalar: [UInt8]? = nil) throws {
        guard wBytes.count == 32 else { throw CryptoError.invalidInput("SPAKE2 w must be 32 bytes") }
        guard let group = EC_GROUP_new_by_curve_name_ex(nil, nil, clipd_nid_p256()) else { throw CryptoError.fromOpenSSL("EC_GROUP_new_by_curve_name_ex") }
        guard let ctx = BN_CTX_secure_new() else {
            EC_GROUP_free(group)
            throw CryptoError.fromOpenSSL("BN_CTX_secure_new")
        }
        self.group = group
        self.bnContext = ctx
        self.role = role
        self.w = BN_secure_new()
        self.scalar = BN_secure_new()
        self.message = []
        _ = wBytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, w) }
        let order = EC_GROUP_get0_order(group)
        guard BN_cmp(w, order) < 0 else { throw CryptoError.invalidInput("SPAKE2 w must be below the group order") }
        if let fixed = testingScalar {
            guard fixed.count == 32 else { throw CryptoError.invalidInput("SPAKE2 scalar must be 32 bytes") }
            _ = fixed.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, scalar) }
        } else {
            // Uniform in [1, order): zero would make the message equal w*M.
            repeat {
                guard BN_priv_rand_range(scalar, order) == 1 else { throw CryptoError.fromOpenSSL("BN_priv_rand_range") }
            } while BN_is_zero(scalar) == 1
        }
        let blind = try decodeCompressed(role == .a ? Self.mCompressed : Self.nCompressed)
        defer { EC_POINT_free(blind) }
        let xG = try newPoint()
        defer { EC_POINT_free(xG) }
        let wBlind = try newPoint()
        defer { EC_POINT_free(wBlind) }
        guard EC_POINT_mul(group, xG, scalar, nil, nil, ctx) == 1 else { throw CryptoError.fromOpenSSL("EC_POINT_mul(x*G)") }
        guard EC_POINT_mul(group, wBlind, nil, blind, w, ctx) == 1 else { throw CryptoError.fromOpenSSL("EC_POINT_mul(w*M)") }
        guard EC_POINT_add(group, xG, xG, wBlind, ctx) == 1 else { throw CryptoError.fromOpenSSL("EC_POINT_add") }
        message = try encode(xG)
    }

    deinit {
        BN_clear_free(w)
        BN_clear_free(scalar)
        BN_CTX_free(bnContext)
        EC_GROUP_free(group)
    }

    /// The keys an exchange produces.
    public struct Keys: Sendable {
        /// The shared secret Ke (16 bytes), for deriving the application's keys; zeros once
        /// wiped.
        public private(set) var sharedKey: [UInt8]
        /// This side's confirmation MAC, to send.
        public let confirmation: [UInt8]
        /// The confirmation MAC the peer must send.
        public let expectedPeerConfirmation: [UInt8]
        /// The transcript TT, for binding later messages to this exchange.
        public let transcript: [UInt8]

        /// Overwrites Ke with zeros once the application's keys are derived.
        public mutating func wipe() { secureWipe(&sharedKey) }

        /// True when `received` equals the expected peer confirmation (constant time).
        public func verifyPeerConfirmation(_ received: [UInt8]) -> Bool {
            ConstantTime.equal(received, expectedPeerConfirmation)
        }
    }

    /// Completes the exchange with the peer's message. May be called once.
    /// - Parameters:
    ///   - identityA, identityB: the identities bound into the transcript. They do not
    ///     affect the messages, so A may learn B's identity from B's reply.
    ///   - additionalData: bound into the confirmation keys (RFC 9382's AAD).
    public func finish(peerMessage: [UInt8], identityA: [UInt8], identityB: [UInt8], additionalData: [UInt8] = []) throws -> Keys {
        guard !finished else { throw CryptoError.invalidInput("SPAKE2 exchange already finished") }
        finished = true
        let peer = try decodeUncompressed(peerMessage)
        defer { EC_POINT_free(peer) }
        let unblind = try decodeCompressed(role == .a ? Self.nCompressed : Self.mCompressed)
        defer { EC_POINT_free(unblind) }
        // K = h * scalar * (peer - w * blind'), h = 1 for P-256.
        let wBlind = try newPoint()
        defer { EC_POINT_free(wBlind) }
        guard EC_POINT_mul(group, wBlind, nil, unblind, w, bnContext) == 1 else { throw CryptoError.fromOpenSSL("EC_POINT_mul(w*N)") }
        guard EC_POINT_invert(group, wBlind, bnContext) == 1 else { throw CryptoError.fromOpenSSL("EC_POINT_invert") }
        let difference = try newPoint()
        defer { EC_POINT_free(difference) }
        guard EC_POINT_add(group, difference, peer, wBlind, bnContext) == 1 else { throw CryptoError.fromOpenSSL("EC_POINT_add") }
        let shared = try newPoint()
        defer { EC_POINT_free(shared) }
        guard EC_POINT_mul(group, shared, nil, difference, scalar, bnContext) == 1 else { throw CryptoError.fromOpenSSL("EC_POINT_mul(K)") }
        guard EC_POINT_is_at_infinity(group, shared) == 0 else { throw CryptoError.invalidPublicValue("SPAKE2 shared point is the identity") }
        let k = try encode(shared)
        var wEncoded = [UInt8](repeating: 0, count: 32)
        _ = wEncoded.withUnsafeMutableBufferPointer { BN_bn2binpad(w, $0.baseAddress, 32) }
        defer { secureWipe(&wEncoded) }

        let pA = role == .a ? message : peerMessage
        let pB = role == .a ? peerMessage : message
        var transcript: [UInt8] = []
        for part in [identityA, identityB, pA, pB, k, wEncoded] {
            transcript.appendLittleEndian(UInt64(part.count))
            transcript.append(contentsOf: part)
        }
        let digest = SHA256.hash(transcript)
        let ke = Array(digest[0..<16])
        let ka = Array(digest[16..<32])
        let confirmationKeys = HKDFSHA256.derive(ikm: ka, salt: [], info: Array("ConfirmationKeys".utf8) + additionalData, length: 32)
        let kcA = Array(confirmationKeys[0..<16])
        let kcB = Array(confirmationKeys[16..<32])
        let cA = HMACSHA256.mac(key: kcA, data: transcript)
        let cB = HMACSHA256.mac(key: kcB, data: transcript)
        return Keys(
            sharedKey: ke,
            confirmation: role == .a ? cA : cB,
            expectedPeerConfirmation: role == .a ? cB : cA,
            transcript: transcript
        )
    }

    /// Maps a one-time code to the password scalar w.
    ///
    /// RFC 9382 asks for a memory-hard function because long-lived passwords can be
    /// attacked offline when a verifier leaks. A pairing code is used once, never stored
    /// and dead within minutes, and SPAKE2 itself gives an attacker one online guess, so a
    /// fast derivation is enough: HKDF-SHA256 to 48 bytes, reduced modulo the group order
    /// (48 bytes keep the bias below 2^-128).
    public static func passwordScalar(code: [UInt8], context: [UInt8]) throws -> [UInt8] {
        let wide = HKDFSHA256.derive(ikm: code, salt: Array("clipd pairing w".utf8), info: context, length: 48)
        guard let group = EC_GROUP_new_by_curve_name_ex(nil, nil, clipd_nid_p256()), let ctx = BN_CTX_new() else {
            throw CryptoError.fromOpenSSL("EC_GROUP_new_by_curve_name_ex")
        }
        defer { EC_GROUP_free(group); BN_CTX_free(ctx) }
        let value = BN_secure_new()
        let reduced = BN_secure_new()
        defer { BN_clear_free(value); BN_clear_free(reduced) }
        _ = wide.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 48, value) }
        guard BN_nnmod(reduced, value, EC_GROUP_get0_order(group), ctx) == 1 else { throw CryptoError.fromOpenSSL("BN_nnmod") }
        var out = [UInt8](repeating: 0, count: 32)
        _ = out.withUnsafeMutableBufferPointer { BN_bn2binpad(reduced, $0.baseAddress, 32) }
        return out
    }

    // MARK: Points

    private func newPoint() throws -> OpaquePointer {
        guard let point = EC_POINT_new(group) else { throw CryptoError.fromOpenSSL("EC_POINT_new") }
        return point
    }

    private func decodeCompressed(_ bytes: [UInt8]) throws -> OpaquePointer {
        let point = try newPoint()
        let ok = bytes.withUnsafeBufferPointer { EC_POINT_oct2point(group, point, $0.baseAddress, bytes.count, bnContext) }
        guard ok == 1 else {
            EC_POINT_free(point)
            throw CryptoError.fromOpenSSL("EC_POINT_oct2point(constant)")
        }
        return point
    }

    /// Decodes a peer's point: exactly 65 bytes, prefix 0x04, on the curve, not the identity.
    private func decodeUncompressed(_ bytes: [UInt8]) throws -> OpaquePointer {
        guard bytes.count == Self.messageByteCount, bytes[0] == 0x04 else {
            throw CryptoError.invalidPublicValue("SPAKE2 message must be a 65-byte uncompressed point")
        }
        let point = try newPoint()
        let ok = bytes.withUnsafeBufferPointer { EC_POINT_oct2point(group, point, $0.baseAddress, bytes.count, bnContext) }
        guard ok == 1, EC_POINT_is_on_curve(group, point, bnContext) == 1, EC_POINT_is_at_infinity(group, point) == 0 else {
            EC_POINT_free(point)
            ERR_clear_error()
            throw CryptoError.invalidPublicValue("SPAKE2 message is not a point on P-256")
        }
        return point
    }

    private func encode(_ point: OpaquePointer) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.messageByteCount)
        let written = out.withUnsafeMutableBufferPointer {
            EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, $0.baseAddress, Self.messageByteCount, bnContext)
        }
        guard written == Self.messageByteCount else { throw CryptoError.fromOpenSSL("EC_POINT_point2oct") }
        return out
    }
}
