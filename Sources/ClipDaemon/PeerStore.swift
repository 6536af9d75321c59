import ClipCrypto
import ClipWire
import TOMLKit

/// A paired peer as stored on disk: its identity, the PSK, and where to dial it.
public struct StoredPeer: Sendable, Equatable {
    public var identity: DeviceIdentity
    public var psk: [UInt8]
    /// HOST:PORT addresses to dial; empty for a peer that dials us.
    public var addresses: [String]

    public var deviceID: DeviceID { identity.deviceID }
    public var name: String { identity.name }
}

/// The trust store: paired peers in `peers.toml` (mode 0600, written atomically). Holds
/// per peer exactly its id, name, pinned static key, PSK and addresses; never codes,
/// scalars or session keys. Not thread-safe: the daemon owns it on its event loop.
public final class PeerStore {
    private let path: String
    public private(set) var peers: [StoredPeer]

    /// Loads the store; a missing file is an empty store.
    public init(path: String) throws {
        self.path = path
        guard let bytes = try PrivateFiles.read(path) else {
            peers = []
            return
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: String(decoding: bytes, as: UTF8.self))
        } catch let error as TOMLParseError {
            throw DaemonError("cannot parse \(path): \(error.description)")
        }
        var loaded: [StoredPeer] = []
        for (index, entry) in (table["peer"]?.array ?? TOMLArray()).enumerated() {
            guard let t = entry.table,
                  let keyHex = t["public_key"]?.string, let key = [UInt8](hex: keyHex), key.count == 32,
                  let pskHex = t["psk"]?.string, let psk = [UInt8](hex: pskHex), psk.count == 32
            else { throw DaemonError("\(path): peer \(index + 1) lacks a valid public_key or psk") }
            let name = t["name"]?.string ?? "peer"
            let addresses = (t["addresses"]?.array ?? TOMLArray()).compactMap { $0.string }
            loaded.append(StoredPeer(identity: DeviceIdentity(staticPublicKey: key, name: name), psk: psk, addresses: addresses))
        }
        peers = loaded
    }

    /// The peer with this static key.
    public func peer(staticKey: [UInt8]) -> StoredPeer? { peers.first { $0.identity.staticPublicKey == staticKey } }

    /// The peer with this id.
    public func peer(id: DeviceID) -> StoredPeer? { peers.first { $0.deviceID == id } }

    /// Peers whose name, or id prefix (at least 4 hex digits), matches `query`.
    public func find(_ query: String) -> [StoredPeer] {
        let lower = query.lowercased()
        let byName = peers.filter { $0.name == query }
        if !byName.isEmpty { return byName }
        guard lower.count >= 4 else { return [] }
        return peers.filter { $0.deviceID.description.hasPrefix(lower) }
    }

    /// Adds or replaces a peer (by device id) and saves.
    public func upsert(_ peer: StoredPeer) throws {
        var next = peers.filter { $0.deviceID != peer.deviceID }
        next.append(peer)
        try save(next)
    }

    /// Removes a peer and saves.
    public func remove(_ id: DeviceID) throws {
        try save(peers.filter { $0.deviceID != id })
    }

    private func save(_ next: [StoredPeer]) throws {
        var text = "# clipd paired peers. Private: each psk authenticates a peer (mode 0600).\n"
        for p in next {
            text += "\n[[peer]]\n"
            text += "id = \"\(p.deviceID)\"\n"
            text += "name = \(tomlString(p.name))\n"
            text += "public_key = \"\(p.identity.staticPublicKey.hexString)\"\n"
            text += "psk = \"\(p.psk.hexString)\"\n"
            text += "addresses = [\(p.addresses.map(tomlString).joined(separator: ", "))]\n"
        }
        try PrivateFiles.writeAtomically(path, contents: Array(text.utf8))
        peers = next
    }
}
