import COpenSSL

/// SHA-256 through OpenSSL's EVP interface.
public enum SHA256 {
    /// Length of a digest in bytes.
    public static let byteCount = 32

    /// One-shot digest of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash($0) }
    }

    /// One-shot digest of raw bytes.
    public static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { o in
            EVP_Digest(data.baseAddress, data.count, o.baseAddress, &length, OpenSSLAlgorithms.shared.sha256, nil)
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return out
    }
}

/// An incremental SHA-256. Not thread-safe: one owner feeds it and reads the result.
public final class SHA256Hasher {
    private let context: OpaquePointer

    /// Starts an empty digest.
    public init() {
        guard let ctx = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed") }
        context = ctx
        precondition(EVP_DigestInit_ex2(ctx, OpenSSLAlgorithms.shared.sha256, nil) == 1, "EVP_DigestInit_ex2 failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds bytes to the digest.
    public func update(_ data: UnsafeRawBufferPointer) {
        guard data.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, data.baseAddress, data.count) == 1, "EVP_DigestUpdate failed")
    }

    /// Adds bytes to the digest.
    public func update(_ data: [UInt8]) { data.withUnsafeBytes { update($0) } }

    /// Returns the digest. The hasher must not be used afterwards.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        precondition(ok == 1, "EVP_DigestFinal_ex failed")
        return out
    }
}

/// HMAC-SHA256 through `EVP_MAC`.
public enum HMACSHA256 {
    /// The MAC of `data` under `key`.
    public static func mac(key: [UInt8], data: [UInt8]) -> [UInt8] {
        let ctx = EVP_MAC_CTX_new(OpenSSLAlgorithms.shared.hmac)!
        defer { EVP_MAC_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var outLength = 0
        let ok: Bool = "SHA256".withCString { digest in
            var params = [
                OSSL_PARAM_construct_utf8_string(clipd_param_mac_digest(), UnsafeMutablePointer(mutating: digest), 0),
                OSSL_PARAM_construct_end(),
            ]
            // A zero-length key is legal for HMAC, but OpenSSL wants a non-null pointer.
            return nonEmptyStorage(key).withUnsafeBytes { k in
                guard EVP_MAC_init(ctx, k.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count, &params) == 1 else { return false }
                let updated = data.withUnsafeBytes { d in
                    d.count == 0 || EVP_MAC_update(ctx, d.baseAddress!.assumingMemoryBound(to: UInt8.self), d.count) == 1
                }
                guard updated else { return false }
                return out.withUnsafeMutableBufferPointer { EVP_MAC_final(ctx, $0.baseAddress, &outLength, 32) == 1 }
            }
        }
        precondition(ok && outLength == 32, "HMAC-SHA256 failed")
        return out
    }
}

/// `bytes`, or one zero byte when empty, so that `withUnsafeBytes` always yields a non-null
/// base address; callers pass the original count.
private func nonEmptyStorage(_ bytes: [UInt8]) -> [UInt8] { bytes.isEmpty ? [0] : bytes }

/// HKDF-SHA256 (RFC 5869) through `EVP_KDF`.
public enum HKDFSHA256 {
    /// Extract-then-expand: `length` bytes from input keying material `ikm`, `salt` and
    /// `info`. `length` must be at most 255 * 32.
    public static func derive(ikm: [UInt8], salt: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        precondition(length > 0 && length <= 255 * 32, "HKDF output length out of range")
        let kdf = OpenSSLAlgorithms.shared.hkdf
        let ctx = EVP_KDF_CTX_new(kdf)!
        defer { EVP_KDF_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: length)
        // OSSL_PARAM keeps the pointers: every buffer stays pinned until EVP_KDF_derive returns.
        let ok: Bool = "SHA256".withCString { digest in
            nonEmptyStorage(ikm).withUnsafeBytes { k in
                nonEmptyStorage(salt).withUnsafeBytes { s in
                    nonEmptyStorage(info).withUnsafeBytes { i in
                        var params: [OSSL_PARAM] = [
                            OSSL_PARAM_construct_utf8_string(clipd_param_digest(), UnsafeMutablePointer(mutating: digest), 0),
                            OSSL_PARAM_construct_octet_string(clipd_param_key(), UnsafeMutableRawPointer(mutating: k.baseAddress), ikm.count),
                        ]
                        if !salt.isEmpty {
                            params.append(OSSL_PARAM_construct_octet_string(clipd_param_salt(), UnsafeMutableRawPointer(mutating: s.baseAddress), salt.count))
                        }
                        if !info.isEmpty {
                            params.append(OSSL_PARAM_construct_octet_string(clipd_param_info(), UnsafeMutableRawPointer(mutating: i.baseAddress), info.count))
                        }
                        params.append(OSSL_PARAM_construct_end())
                        return out.withUnsafeMutableBufferPointer { o in
                            EVP_KDF_derive(ctx, o.baseAddress, length, &params) == 1
                        }
                    }
                }
            }
        }
        precondition(ok, "HKDF-SHA256 failed: \(openSSLErrorText())")
        return out
    }
}

/// Algorithm objects fetched once per process.
///
/// Sound as `@unchecked Sendable`: `EVP_MD`, `EVP_MAC`, `EVP_KDF` and `EVP_CIPHER` objects
/// are immutable after fetching and OpenSSL documents them as safe to share between threads.
final class OpenSSLAlgorithms: @unchecked Sendable {
    static let shared = OpenSSLAlgorithms()

    let sha256: OpaquePointer
    let hmac: OpaquePointer
    let hkdf: OpaquePointer
    let aes256gcm: OpaquePointer

    private init() {
        guard let sha = EVP_MD_fetch(nil, "SHA256", nil),
              let mac = EVP_MAC_fetch(nil, "HMAC", nil),
              let kdf = EVP_KDF_fetch(nil, "HKDF", nil),
              let gcm = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)
        else { preconditionFailure("OpenSSL 3 with SHA256, HMAC, HKDF and AES-256-GCM is required") }
        sha256 = sha
        hmac = mac
        hkdf = kdf
        aes256gcm = gcm
    }
}

/// The oldest queued OpenSSL error as text (for messages about internal failures), and
/// clears the queue.
func openSSLErrorText() -> String {
    let code = ERR_get_error()
    ERR_clear_error()
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
