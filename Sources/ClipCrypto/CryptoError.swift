import COpenSSL

/// Every way a cryptographic operation can fail. The messages are one line, safe to log,
/// and never contain key material.
public enum CryptoError: Error, Equatable, CustomStringConvertible {
    /// OpenSSL reported an internal failure in the named call.
    case openssl(String)
    /// An input had the wrong length or encoding.
    case invalidInput(String)
    /// A received public value is not acceptable (off the curve, identity, low order).
    case invalidPublicValue(String)
    /// An AEAD tag, MAC or confirmation did not verify.
    case authenticationFailed
    /// A nonce counter reached its limit; the session must end.
    case nonceExhausted

    public var description: String {
        switch self {
        case .openssl(let call): return "OpenSSL call \(call) failed"
        case .invalidInput(let what): return "invalid input: \(what)"
        case .invalidPublicValue(let what): return "invalid public value: \(what)"
        case .authenticationFailed: return "authentication failed"
        case .nonceExhausted: return "nonce counter exhausted"
        }
    }

    /// Builds an `.openssl` error and empties OpenSSL's per-thread error queue so a later
    /// unrelated call does not report this failure.
    static func fromOpenSSL(_ call: String) -> CryptoError {
        ERR_clear_error()
        return .openssl(call)
    }
}
