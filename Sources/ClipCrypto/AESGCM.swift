import COpenSSL

/// AES-256-GCM with one key, set once; only the 96-bit nonce changes per message.
///
/// One instance seals or opens, never both. It is not thread-safe: give it one owner (an
/// event loop or an actor). The key schedule lives inside the OpenSSL context and is wiped
/// when the instance is freed.
public final class AESGCM256 {
    /// Key length in bytes.
    public static let keyByteCount = 32
    /// Tag length in bytes.
    public static let tagByteCount = 16
    /// Nonce length in bytes.
    public static let nonceByteCount = 12

    /// Whether this instance seals (encrypts) or opens (decrypts).
    public enum Direction: Sendable { case seal, open }

    private let context: OpaquePointer
    public let direction: Direction

    /// Prepares the cipher with `key` (32 bytes).
    public init(key: [UInt8], direction: Direction) throws {
        guard key.count == Self.keyByteCount else { throw CryptoError.invalidInput("AES-256-GCM key must be 32 bytes") }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.fromOpenSSL("EVP_CIPHER_CTX_new") }
        context = ctx
        self.direction = direction
        let ok = key.withUnsafeBufferPointer { k in
            switch direction {
            case .seal: return EVP_EncryptInit_ex2(ctx, OpenSSLAlgorithms.shared.aes256gcm, k.baseAddress, nil, nil)
            case .open: return EVP_DecryptInit_ex2(ctx, OpenSSLAlgorithms.shared.aes256gcm, k.baseAddress, nil, nil)
            }
        }
        guard ok == 1 else { throw CryptoError.fromOpenSSL("EVP_CipherInit_ex2") }
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// Encrypts `plaintext` and writes ciphertext followed by the 16-byte tag into `output`,
    /// which must hold exactly `plaintext.count + 16` bytes.
    public func seal(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer
    ) throws {
        try seal(nonce: nonce, aad: aad, plaintextParts: [plaintext], output: output)
    }

    /// Encrypts the concatenation of `plaintextParts` (one message, no copy of the parts)
    /// and writes ciphertext then tag into `output` (total length of the parts + 16).
    public func seal(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        plaintextParts: [UnsafeRawBufferPointer], output: UnsafeMutableRawBufferPointer
    ) throws {
        precondition(direction == .seal, "AESGCM256 opened for decryption used to seal")
        let plaintextCount = plaintextParts.reduce(0) { $0 + $1.count }
        guard nonce.count == Self.nonceByteCount else { throw CryptoError.invalidInput("nonce must be 12 bytes") }
        guard output.count == plaintextCount + Self.tagByteCount else { throw CryptoError.invalidInput("output size") }
        let n = nonce.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard EVP_EncryptInit_ex2(context, nil, nil, n, nil) == 1 else { throw CryptoError.fromOpenSSL("EVP_EncryptInit_ex2") }
        var produced: Int32 = 0
        // Additional data may be larger than an Int32.
        var aadOffset = 0
        while aadOffset < aad.count {
            let piece = min(aad.count - aadOffset, 1 << 30)
            guard EVP_EncryptUpdate(context, nil, &produced, aad.baseAddress!.assumingMemoryBound(to: UInt8.self) + aadOffset, Int32(piece)) == 1
            else { throw CryptoError.fromOpenSSL("EVP_EncryptUpdate(aad)") }
            aadOffset += piece
        }
        let out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written = 0
        for part in plaintextParts where part.count > 0 {
            guard EVP_EncryptUpdate(context, out + written, &produced, part.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(part.count)) == 1
            else { throw CryptoError.fromOpenSSL("EVP_EncryptUpdate") }
            written += Int(produced)
        }
        guard EVP_EncryptFinal_ex(context, out + written, &produced) == 1 else { throw CryptoError.fromOpenSSL("EVP_EncryptFinal_ex") }
        written += Int(produced)
        guard written == plaintextCount else { throw CryptoError.openssl("EVP_EncryptFinal_ex length") }
        guard EVP_CIPHER_CTX_ctrl(context, clipd_ctrl_gcm_get_tag(), Int32(Self.tagByteCount), out + written) == 1
        else { throw CryptoError.fromOpenSSL("EVP_CTRL_GCM_GET_TAG") }
    }

    /// Decrypts `ciphertextAndTag` into `output` (exactly `ciphertextAndTag.count - 16`
    /// bytes). The caller must treat `output` as private until this returns: on any failure
    /// it is wiped and `CryptoError.authenticationFailed` is thrown.
    public func open(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer,
        ciphertextAndTag: UnsafeRawBufferPointer, output: UnsafeMutableRawBufferPointer
    ) throws {
        precondition(direction == .open, "AESGCM256 opened for encryption used to open")
        guard nonce.count == Self.nonceByteCount else { throw CryptoError.invalidInput("nonce must be 12 bytes") }
        guard ciphertextAndTag.count >= Self.tagByteCount,
              output.count == ciphertextAndTag.count - Self.tagByteCount
        else { throw CryptoError.invalidInput("ciphertext size") }
        let cipherLength = output.count
        let input = ciphertextAndTag.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let n = nonce.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard EVP_DecryptInit_ex2(context, nil, nil, n, nil) == 1 else { throw CryptoError.fromOpenSSL("EVP_DecryptInit_ex2") }
        var produced: Int32 = 0
        if aad.count > 0 {
            guard EVP_DecryptUpdate(context, nil, &produced, aad.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1
            else { throw CryptoError.fromOpenSSL("EVP_DecryptUpdate(aad)") }
        }
        let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var written = 0
        if cipherLength > 0 {
            guard EVP_DecryptUpdate(context, out, &produced, input, Int32(cipherLength)) == 1 else {
                secureWipe(output)
                throw CryptoError.fromOpenSSL("EVP_DecryptUpdate")
            }
            written = Int(produced)
        }
        let tag = UnsafeMutableRawPointer(mutating: input + cipherLength)
        guard EVP_CIPHER_CTX_ctrl(context, clipd_ctrl_gcm_set_tag(), Int32(Self.tagByteCount), tag) == 1 else {
            secureWipe(output)
            throw CryptoError.fromOpenSSL("EVP_CTRL_GCM_SET_TAG")
        }
        var scratch = [UInt8](repeating: 0, count: 16)
        let finalOK = scratch.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress, &produced) }
        guard finalOK == 1, written == cipherLength else {
            secureWipe(output)
            ERR_clear_error()
            throw CryptoError.authenticationFailed
        }
    }

    // MARK: Convenience on arrays

    /// Seals and returns ciphertext || tag.
    public func seal(nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + Self.tagByteCount)
        try nonce.withUnsafeBytes { n in
            try aad.withUnsafeBytes { a in
                try plaintext.withUnsafeBytes { p in
                    try out.withUnsafeMutableBytes { o in try seal(nonce: n, aad: a, plaintext: p, output: o) }
                }
            }
        }
        return out
    }

    /// Opens ciphertext || tag and returns the plaintext, or throws without releasing any.
    public func open(nonce: [UInt8], aad: [UInt8], ciphertextAndTag: [UInt8]) throws -> [UInt8] {
        guard ciphertextAndTag.count >= Self.tagByteCount else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertextAndTag.count - Self.tagByteCount)
        try nonce.withUnsafeBytes { n in
            try aad.withUnsafeBytes { a in
                try ciphertextAndTag.withUnsafeBytes { c in
                    try out.withUnsafeMutableBytes { o in try open(nonce: n, aad: a, ciphertextAndTag: c, output: o) }
                }
            }
        }
        return out
    }

    /// The 12-byte nonce used by Noise's AESGCM and clipd's records: 32 zero bits then a
    /// 64-bit big-endian counter.
    public static func counterNonce(_ counter: UInt64) -> [UInt8] {
        var nonce: [UInt8] = [0, 0, 0, 0]
        nonce.appendBigEndian(counter)
        return nonce
    }
}
