import ClipCrypto

/// A one-time pairing code: 32 random bits shown as four words from the PGP word list,
/// e.g. `tracker-Atlantic-spheroid-Montana`, easy to read aloud. Words at positions 1 and 3
/// come from the two-syllable list, words 2 and 4 from the three-syllable list, so a
/// swapped or misheard word is caught before any network traffic.
public struct PairingCode: Equatable, Sendable, CustomStringConvertible {
    /// Number of secret bytes (and words).
    public static let byteCount = 4

    /// The secret bytes.
    public let secret: [UInt8]

    /// A fresh random code.
    public static func generate() -> PairingCode { PairingCode(secret: SecureRandom.bytes(byteCount)) }

    public init(secret: [UInt8]) {
        precondition(secret.count == Self.byteCount)
        self.secret = secret
    }

    /// Parses a code typed by a person: words separated by '-', spaces or both, any case.
    /// Throws a one-line `PairingCodeError` naming the word at fault.
    public init(parsing text: String) throws(PairingCodeError) {
        let words = text.lowercased().split(whereSeparator: { $0 == "-" || $0 == " " || $0 == "\t" }).map(String.init)
        guard words.count == Self.byteCount else {
            throw PairingCodeError("malformed code: expected \(Self.byteCount) words separated by '-', got \(words.count)")
        }
        var bytes: [UInt8] = []
        for (position, word) in words.enumerated() {
            let list = position % 2 == 0 ? PGPWordList.even : PGPWordList.odd
            let other = position % 2 == 0 ? PGPWordList.odd : PGPWordList.even
            if let index = list.firstIndex(of: word) {
                bytes.append(UInt8(index))
            } else if other.contains(word) {
                throw PairingCodeError("malformed code: '\(word)' cannot be word \(position + 1); are two words swapped?")
            } else {
                throw PairingCodeError("malformed code: '\(word)' is not a code word")
            }
        }
        secret = bytes
    }

    /// The code as people see it: four lowercase words joined by '-'.
    public var description: String {
        secret.enumerated().map { position, byte in
            position % 2 == 0 ? PGPWordList.even[Int(byte)] : PGPWordList.odd[Int(byte)]
        }.joined(separator: "-")
    }
}

/// A code that could not be parsed. The message is one line for people.
public struct PairingCodeError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}
