import ClipCrypto
import ClipWire
import ClipTOML

#if canImport(Glibc)
import Glibc
#endif

/// This device's long-term identity: its X25519 key pair and display name, kept in
/// `identity.toml` (mode 0600). Created on first use.
public struct LocalIdentity: Sendable {
    public let key: X25519PrivateKey
    public let name: String

    public var deviceIdentity: DeviceIdentity { DeviceIdentity(staticPublicKey: key.publicKey, name: name) }
    public var deviceID: DeviceID { deviceIdentity.deviceID }

    /// Loads the identity, creating and saving a new one when none exists.
    public static func loadOrCreate(paths: DaemonPaths) throws -> LocalIdentity {
        try PrivateFiles.ensureDirectory(paths.stateDirectory)
        if let bytes = try PrivateFiles.read(paths.identityFile) {
            let table = try TOMLDocument.parse(String(decoding: bytes, as: UTF8.self), what: "cannot parse \(paths.identityFile)")
            guard let hex = table["private_key"]?.string, let raw = [UInt8](hex: hex), raw.count == 32,
                  let key = try? X25519PrivateKey(rawRepresentation: raw)
            else { throw DaemonError("\(paths.identityFile) has no valid private_key; move it away to create a new identity (peers must then pair again)") }
            return LocalIdentity(key: key, name: table["name"]?.string ?? hostName())
        }
        let identity = LocalIdentity(key: .generate(), name: hostName())
        let text = """
            # clipd identity: this device's private key. Keep it private (mode 0600).
            private_key = "\(identity.key.rawRepresentation.hexString)"
            name = \(TOMLText.basicString(identity.name))

            """
        try PrivateFiles.writeAtomically(paths.identityFile, contents: Array(text.utf8))
        return identity
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "clipd" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "clipd" : name
    }
}
