/// The check a fetched item must pass before it is applied (protocol/sync.md, DATA_END):
/// GMAC, i.e. the AES-256-GCM tag of the item's bytes taken as additional data with an
/// empty plaintext, under a key derived for this purpose from one direction's session key.
///
/// Nonces: 32 zero bits then the fetch's request id as a 64-bit integer. Request ids grow
/// strictly within a session (`ItemMACSender` refuses any other), and every session has
/// fresh keys, so a (key, nonce) pair is never used twice.
///
/// GMAC runs at tens of GB/s with carry-less multiplication, where SHA-256 manages about 2;
/// it also authenticates the reassembled item, not only each record.
public enum ItemMAC {
    public static let tagByteCount = 16

    /// The item-MAC key of one direction, from that direction's record key.
    public static func key(fromSessionKey sessionKey: [UInt8]) -> [UInt8] {
        HKDFSHA256.derive(ikm: sessionKey, salt: [], info: Array("clipd item mac v1".utf8), length: 32)
    }

    /// The tag of `data` for the fetch `requestID`.
    public static func tag(key: [UInt8], requestID: UInt32, data: UnsafeRawBufferPointer) throws -> [UInt8] {
        let cipher = try AESGCM256(key: key, direction: .seal)
        var tag = [UInt8](repeating: 0, count: tagByteCount)
        let nonce = AESGCM256.counterNonce(UInt64(requestID))
        try nonce.withUnsafeBytes { n in
            try tag.withUnsafeMutableBytes { t in
                try cipher.seal(nonce: n, aad: data, plaintextParts: [], output: t)
            }
        }
        return tag
    }

    /// The tag of `data` for the fetch `requestID`.
    public static func tag(key: [UInt8], requestID: UInt32, data: [UInt8]) throws -> [UInt8] {
        try data.withUnsafeBytes { try tag(key: key, requestID: requestID, data: $0) }
    }

    /// True when `received` is the tag of `data` (compared in constant time).
    public static func verify(key: [UInt8], requestID: UInt32, data: [UInt8], received: [UInt8]) -> Bool {
        guard let expected = try? tag(key: key, requestID: requestID, data: data) else { return false }
        return ConstantTime.equal(expected, received)
    }
}
