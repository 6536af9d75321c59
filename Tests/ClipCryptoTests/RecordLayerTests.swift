import ClipCrypto
import ClipTestSupport
import Testing

@Suite("Record layer")
struct RecordLayerTests {
    let key = [UInt8](repeating: 7, count: 32)

    @Test func roundTripsAndNoncesAdvance() throws {
        let sealer = try RecordSealer(key: key, maximumPlaintext: 1024)
        let opener = try RecordOpener(key: key, maximumPlaintext: 1024)
        let first = try sealer.seal([1, 2, 3])
        let second = try sealer.seal([1, 2, 3])
        #expect(first != second, "same plaintext twice must not give the same record")
        #expect(try opener.open(record: first) == [1, 2, 3])
        #expect(try opener.open(record: second) == [1, 2, 3])
        #expect(sealer.recordsSealed == 2 && opener.recordsOpened == 2)
    }

    @Test func lengthPrefixIsAuthenticated() throws {
        let sealer = try RecordSealer(key: key, maximumPlaintext: 1024)
        let opener = try RecordOpener(key: key, maximumPlaintext: 1024)
        var record = try sealer.seal([UInt8](repeating: 5, count: 40))
        // Shorten the announced length and the body together: the tag must fail.
        record[3] -= 1
        record.removeLast()
        #expect(throws: CryptoError.self) { try opener.open(record: record) }
    }

    @Test func replayAndReorderFail() throws {
        let sealer = try RecordSealer(key: key, maximumPlaintext: 1024)
        let a = try sealer.seal([1])
        let b = try sealer.seal([2])
        let replaying = try RecordOpener(key: key, maximumPlaintext: 1024)
        _ = try replaying.open(record: a)
        #expect(throws: CryptoError.authenticationFailed) { try replaying.open(record: a) }
        let reordering = try RecordOpener(key: key, maximumPlaintext: 1024)
        #expect(throws: CryptoError.authenticationFailed) { try reordering.open(record: b) }
    }

    @Test func oversizedLengthIsRefusedBeforeReading() throws {
        let opener = try RecordOpener(key: key, maximumPlaintext: 1024)
        #expect(throws: CryptoError.self) { try opener.plaintextLength(forLengthField: 1024 + 17) }
        #expect(throws: CryptoError.self) { try opener.plaintextLength(forLengthField: 3) }
        // The opener is dead after a failure.
        #expect(throws: CryptoError.self) { try opener.plaintextLength(forLengthField: 100) }
    }

    @Test func flippedBitKillsTheSession() throws {
        let sealer = try RecordSealer(key: key, maximumPlaintext: 1024)
        let opener = try RecordOpener(key: key, maximumPlaintext: 1024)
        var bad = try sealer.seal([UInt8](repeating: 9, count: 64))
        bad[20] ^= 0x80
        let good = try sealer.seal([1])
        #expect(throws: CryptoError.authenticationFailed) { try opener.open(record: bad) }
        #expect(throws: CryptoError.authenticationFailed) { try opener.open(record: good) }
    }

    @Test func rekeyIsDeterministicOnBothSides() throws {
        let sealer = try RecordSealer(key: key, maximumPlaintext: 64, rekeyInterval: 3)
        let opener = try RecordOpener(key: key, maximumPlaintext: 64, rekeyInterval: 3)
        let plain = try RecordSealer(key: key, maximumPlaintext: 64, rekeyInterval: 1000)
        var records: [[UInt8]] = []
        for i in 0..<10 { records.append(try sealer.seal([UInt8(i)])) }
        var unrekeyed: [[UInt8]] = []
        for i in 0..<10 { unrekeyed.append(try plain.seal([UInt8(i)])) }
        #expect(records[0..<3] == unrekeyed[0..<3])
        #expect(records[3] != unrekeyed[3], "after 3 records the key must change")
        for (i, record) in records.enumerated() { #expect(try opener.open(record: record) == [UInt8(i)]) }
    }

    @Test func pinnedRecordVector() throws {
        let v = try VectorFile(named: "records.txt").record("record-0-and-1")
        let sealer = try RecordSealer(key: v.hex("key"), maximumPlaintext: 1 << 20)
        #expect(try sealer.seal(v.hex("plaintext0")) == v.hex("record0"))
        #expect(try sealer.seal(v.hex("plaintext1")) == v.hex("record1"))
    }

    /// Review finding 10: a key update (an empty record) replaces the key on both sides, so
    /// a key found in memory later opens nothing sent before the update.
    @Test func aKeyUpdateReplacesTheKeyOnBothSides() throws {
        let key = [UInt8](0..<32)
        let sealer = try RecordSealer(key: key, maximumPlaintext: 1024)
        let opener = try RecordOpener(key: key, maximumPlaintext: 1024)
        let before = try sealer.seal(Array("before".utf8))
        #expect(sealer.recordsUnderKey == 1)
        let update = try sealer.sealKeyUpdate()
        #expect(sealer.recordsUnderKey == 0)
        let after = try sealer.seal(Array("after".utf8))
        #expect(try opener.open(record: before) == Array("before".utf8))
        #expect(try opener.open(record: update).isEmpty)
        #expect(try opener.open(record: after) == Array("after".utf8))
        // The same three records with the old key kept: what follows differs.
        let unchanged = try RecordSealer(key: key, maximumPlaintext: 1024)
        _ = try unchanged.seal(Array("before".utf8))
        _ = try unchanged.seal([])
        #expect(try unchanged.seal(Array("after".utf8)) != after)
    }
}
