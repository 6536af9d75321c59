import ClipCrypto
import ClipWire
import Foundation

/// A test key a daemon trusts as if it had paired: the test then speaks to it as a real
/// peer (`RawPeer`) and can offer, stall and misbehave in precise ways.
public struct TrustedRawPeer {
    public let key = X25519PrivateKey.generate()
    public let psk = SecureRandom.bytes(32)
    public let name: String

    public init(name: String = "raw") { self.name = name }

    /// The device id the daemon knows this peer by (the origin of its items).
    public var deviceID: DeviceID { DeviceID.derive(fromStaticKey: key.publicKey) }

    /// Writes the daemon's peers file so that it trusts this key, with `policy` lines (TOML
    /// keys of the peer's table) if any; call before starting it.
    public func trust(in daemon: DaemonHarness.Daemon, policy: String = "") {
        let peers = """
            [[peer]]
            name = "\(name)"
            public_key = "\(key.publicKey.hexString)"
            psk = "\(psk.hexString)"
            addresses = []
            \(policy)

            """
        _ = FileManager.default.createFile(atPath: daemon.home + "/peers.toml", contents: Data(peers.utf8), attributes: [.posixPermissions: 0o600])
    }

    /// Prepares a daemon named `name` (with `arguments`) that trusts this peer (with `policy`), lets `configure`
    /// adjust it (environment, launcher) and starts it; returns it with its static key.
    public func startTrustingDaemon(_ name: String, in harness: DaemonHarness, arguments: [String] = [], policy: String = "",
                                    configure: (DaemonHarness.Daemon) -> Void = { _ in }) throws -> (DaemonHarness.Daemon, [UInt8]) {
        let daemon = harness.prepare(name, arguments: arguments)
        trust(in: daemon, policy: policy)
        configure(daemon)
        try harness.start(daemon)
        return (daemon, try Self.staticKey(of: daemon))
    }

    /// The (started) daemon's static public key, from its identity file.
    public static func staticKey(of daemon: DaemonHarness.Daemon) throws -> [UInt8] {
        let identity = try String(contentsOfFile: daemon.home + "/identity.toml", encoding: .utf8)
        return try X25519PrivateKey(rawRepresentation: [UInt8](hex: String(identity.split(separator: "\"")[1]))!).publicKey
    }

    /// Connects to the (started) daemon and completes the handshake and hellos.
    public func connect(to daemon: DaemonHarness.Daemon, receiveBuffer: Int32? = nil) throws -> RawPeer {
        let daemonKey = try Self.staticKey(of: daemon)
        let peer = try RawPeer(port: daemon.port!, receiveBuffer: receiveBuffer)
        try peer.handshake(key: key, psk: psk, daemonKey: daemonKey)
        return peer
    }

    /// A header for an item of this peer's, newer than anything the daemon holds.
    public func header(size: UInt64, mimeType: String = "application/octet-stream") -> ItemHeader {
        ItemHeader(selection: .clipboard, id: ItemID(origin: deviceID, counter: UInt64.random(in: 1...1_000_000)),
                   clock: HybridTimestamp(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000) + 60_000, logical: 0),
                   representations: [RepresentationInfo(mimeType: mimeType, size: size)])
    }
}

extension RawPeer {
    /// Sends bytes `range` of a fetched representation as DATA records of at most 256 KiB.
    public func sendData(_ bytes: ArraySlice<UInt8>, range: Range<Int>, requestID: UInt32, rangeStart: Int = 0) {
        for start in stride(from: range.lowerBound, to: range.upperBound, by: 256 << 10) {
            let end = min(start + (256 << 10), range.upperBound)
            let piece = bytes[(bytes.startIndex + start)..<(bytes.startIndex + end)]
            sendMessage(.data(.init(requestID: requestID, offset: UInt64(rangeStart + start), bytes: piece)))
        }
    }
}
