/// The record layer of an established session (protocol/records.md).
///
/// A record on the wire is a 4-byte big-endian length L, then L bytes of AES-256-GCM
/// ciphertext and tag. The length bytes are the AEAD's additional data, so changing them
/// breaks the tag. The nonce is implicit: 32 zero bits and a 64-bit count of the records
/// sent so far in that direction, so it is never sent, never reused and never wrapped.
/// Every `rekeyInterval` records the key is replaced by Noise's REKEY function, and a
/// session must re-handshake once `needsRehandshake` turns true (2^31 records). A record
/// with an empty plaintext is a key update: after it, both sides replace the key the same
/// way, whatever the count (the daemon sends one every 2 minutes of use, so a key that is
/// taken from memory later opens at most the last 2 minutes).
public enum RecordLayer {
    /// Bytes before the ciphertext.
    public static let headerByteCount = 4
    /// Bytes after the ciphertext.
    public static let tagByteCount = AESGCM256.tagByteCount
    /// Records between two deterministic rekeys.
    public static let defaultRekeyInterval: UInt64 = 1 << 20
    /// Records after which a session must be replaced by a new handshake.
    public static let rehandshakeThreshold: UInt64 = 1 << 31
    /// Hard limit: no key ever protects more records than this.
    public static let recordLimit: UInt64 = 1 << 32

    /// Noise's REKEY: the first 32 bytes of encrypting 32 zero bytes under nonce 2^64-1.
    static func rekey(_ key: [UInt8]) throws -> [UInt8] {
        let cipher = try AESGCM256(key: key, direction: .seal)
        let out = try cipher.seal(nonce: AESGCM256.counterNonce(UInt64.max), aad: [], plaintext: [UInt8](repeating: 0, count: 32))
        return Array(out[0..<32])
    }
}

/// Seals outgoing records. Not thread-safe: one owner (the connection's event loop).
public final class RecordSealer {
    private var cipher: AESGCM256
    private var key: [UInt8]
    private let rekeyInterval: UInt64
    /// Largest plaintext one record may carry.
    public let maximumPlaintext: Int
    /// Records sealed so far; also the next nonce.
    public private(set) var recordsSealed: UInt64 = 0

    public init(key: [UInt8], maximumPlaintext: Int, rekeyInterval: UInt64 = RecordLayer.defaultRekeyInterval) throws {
        precondition(rekeyInterval > 0)
        self.key = key
        self.cipher = try AESGCM256(key: key, direction: .seal)
        self.rekeyInterval = rekeyInterval
        self.maximumPlaintext = maximumPlaintext
    }

    deinit { secureWipe(&key) }

    /// True once the session should be replaced by a fresh handshake.
    public var needsRehandshake: Bool { recordsSealed >= RecordLayer.rehandshakeThreshold }

    /// Size of the sealed record for a plaintext of `count` bytes.
    public static func sealedSize(plaintextCount count: Int) -> Int {
        RecordLayer.headerByteCount + count + RecordLayer.tagByteCount
    }

    /// Writes the whole record (header, ciphertext, tag) into `output`, which must hold
    /// exactly `sealedSize(plaintextCount: plaintext.count)` bytes.
    public func seal(plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        try seal(plaintextParts: [plaintext], into: output)
    }

    /// Seals one record whose plaintext is the concatenation of `plaintextParts` (a message
    /// header and the bytes it carries, without joining them first).
    public func seal(plaintextParts: [UnsafeRawBufferPointer], into output: UnsafeMutableRawBufferPointer) throws {
        let plaintextCount = plaintextParts.reduce(0) { $0 + $1.count }
        guard plaintextCount <= maximumPlaintext else { throw CryptoError.invalidInput("record plaintext exceeds the maximum") }
        guard recordsSealed < RecordLayer.recordLimit else { throw CryptoError.nonceExhausted }
        precondition(output.count == Self.sealedSize(plaintextCount: plaintextCount))
        let length = UInt32(plaintextCount + RecordLayer.tagByteCount)
        output[0] = UInt8(truncatingIfNeeded: length >> 24)
        output[1] = UInt8(truncatingIfNeeded: length >> 16)
        output[2] = UInt8(truncatingIfNeeded: length >> 8)
        output[3] = UInt8(truncatingIfNeeded: length)
        let nonce = AESGCM256.counterNonce(recordsSealed)
        try nonce.withUnsafeBytes { n in
            try cipher.seal(
                nonce: n, aad: UnsafeRawBufferPointer(rebasing: output[0..<4]), plaintextParts: plaintextParts,
                output: UnsafeMutableRawBufferPointer(rebasing: output[4...]))
        }
        try advance()
    }

    /// Records sealed under the current key.
    public private(set) var recordsUnderKey: UInt64 = 0

    /// Seals a key update (a record with nothing in it), then replaces the key; the old one
    /// is wiped. Returns the record to send.
    public func sealKeyUpdate() throws -> [UInt8] {
        let record = try seal([])
        try replaceKey()
        return record
    }

    /// Seals `plaintext` into a new array.
    public func seal(_ plaintext: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.sealedSize(plaintextCount: plaintext.count))
        try plaintext.withUnsafeBytes { p in try out.withUnsafeMutableBytes { o in try seal(plaintext: p, into: o) } }
        return out
    }

    private func advance() throws {
        recordsSealed += 1
        recordsUnderKey += 1
        if recordsSealed % rekeyInterval == 0 { try replaceKey() }
    }

    private func replaceKey() throws {
        let next = try RecordLayer.rekey(key)
        secureWipe(&key)
        key = next
        cipher = try AESGCM256(key: key, direction: .seal)
        recordsUnderKey = 0
    }
}

/// Opens incoming records in order. Not thread-safe: one owner. After any failure the
/// opener is dead (every later call throws) and the session must end.
public final class RecordOpener {
    private var cipher: AESGCM256
    private var key: [UInt8]
    private let rekeyInterval: UInt64
    private var failed = false
    /// Largest plaintext one record may carry.
    public let maximumPlaintext: Int
    /// Records opened so far; also the next expected nonce.
    public private(set) var recordsOpened: UInt64 = 0

    public init(key: [UInt8], maximumPlaintext: Int, rekeyInterval: UInt64 = RecordLayer.defaultRekeyInterval) throws {
        precondition(rekeyInterval > 0)
        self.key = key
        self.cipher = try AESGCM256(key: key, direction: .open)
        self.rekeyInterval = rekeyInterval
        self.maximumPlaintext = maximumPlaintext
    }

    deinit { secureWipe(&key) }

    /// Validates a record's length field before anything is allocated or read, and returns
    /// the plaintext length it announces.
    public func plaintextLength(forLengthField length: UInt32) throws -> Int {
        guard !failed else { throw CryptoError.authenticationFailed }
        guard length >= UInt32(RecordLayer.tagByteCount), Int(length) - RecordLayer.tagByteCount <= maximumPlaintext else {
            failed = true
            throw CryptoError.invalidInput("record length \(length) outside 16...\(maximumPlaintext + RecordLayer.tagByteCount)")
        }
        return Int(length) - RecordLayer.tagByteCount
    }

    /// Opens one record. `header` is its 4 length bytes, `body` its ciphertext and tag,
    /// `output` exactly the announced plaintext length. On failure `output` is wiped. An
    /// empty plaintext is a key update: the key is replaced after it (the caller has no
    /// message to handle).
    public func open(header: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        guard !failed else { throw CryptoError.authenticationFailed }
        guard recordsOpened < RecordLayer.recordLimit else { failed = true; throw CryptoError.nonceExhausted }
        do {
            let nonce = AESGCM256.counterNonce(recordsOpened)
            try nonce.withUnsafeBytes { n in try cipher.open(nonce: n, aad: header, ciphertextAndTag: body, output: output) }
        } catch {
            failed = true
            throw error
        }
        recordsOpened += 1
        if recordsOpened % rekeyInterval == 0 || output.count == 0 {
            let next = try RecordLayer.rekey(key)
            secureWipe(&key)
            key = next
            cipher = try AESGCM256(key: key, direction: .open)
        }
    }

    /// Opens a whole record held in one array (header included) and returns its plaintext.
    public func open(record: [UInt8]) throws -> [UInt8] {
        guard record.count >= RecordLayer.headerByteCount + RecordLayer.tagByteCount else {
            failed = true
            throw CryptoError.invalidInput("record too short")
        }
        let length = UInt32(record[0]) << 24 | UInt32(record[1]) << 16 | UInt32(record[2]) << 8 | UInt32(record[3])
        let plaintextCount = try plaintextLength(forLengthField: length)
        guard record.count == RecordLayer.headerByteCount + Int(length) else {
            failed = true
            throw CryptoError.invalidInput("record length field does not match its size")
        }
        var out = [UInt8](repeating: 0, count: plaintextCount)
        try record.withUnsafeBytes { r in
            try out.withUnsafeMutableBytes { o in
                try open(header: UnsafeRawBufferPointer(rebasing: r[0..<4]), body: UnsafeRawBufferPointer(rebasing: r[4...]), into: o)
            }
        }
        return out
    }
}
