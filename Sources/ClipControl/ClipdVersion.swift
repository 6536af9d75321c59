/// The version `clipd --version` and `passvm --version` print, and the man pages carry.
/// Raised with each release; the wire protocol has its own version (HELLO's).
public enum ClipdVersion {
    public static let current = "0.1.0"
}
