import ClipCrypto
import ClipSync
import ClipWire
import ClipTOML

/// A paired peer as stored on disk: its identity, the PSK, and where to dial it.
public struct StoredPeer: Sendable, Equatable {
    public var identity: DeviceIdentity
    public var psk: [UInt8]
    /// Where to reach the peer, first first; empty for a peer that dials us.
    public var addresses: [PeerAddress]
    /// What goes between this daemon and the peer (`direction`, `selections`, `mime_types`).
    public var policy = PeerPolicy.open

    public var deviceID: DeviceID { identity.deviceID }
    public var name: String { identity.name }
    /// The network address to dial, if the peer has one.
    public var dialAddress: String? {
        for case .network(let address) in addresses { return address }
        return nil
    }
}

/// The trust store: paired peers in `peers.toml` (mode 0600, written atomically). Holds
/// per peer exactly its id, name, pinned static key, PSK, addresses and policy; never
/// codes, scalars or session keys. Not thread-safe: the daemon owns it on its event loop.
public final class PeerStore {
    private let path: String
    public private(set) var peers: [StoredPeer]

    /// Loads the store; a missing file is an empty store.
    public init(path: String) throws {
        self.path = path
        peers = try Self.load(path)
    }

    /// The peers the file holds now, for a reload (`replace`). Any thread.
    public func readFile() throws -> [StoredPeer] { try Self.load(path) }

    /// Takes the peers `readFile` returned, without writing the file.
    public func replace(with loaded: [StoredPeer]) { peers = loaded }

    private static func load(_ path: String) throws -> [StoredPeer] {
        guard let bytes = try PrivateFiles.read(path) else { return [] }
        let table = try TOMLDocument.parse(String(decoding: bytes, as: UTF8.self), what: "cannot parse \(path)")
        var loaded: [StoredPeer] = []
        for (index, entry) in (table["peer"]?.array ?? []).enumerated() {
            guard let t = entry.table,
                  let keyHex = t["public_key"]?.string, let key = [UInt8](hex: keyHex), key.count == 32,
                  let pskHex = t["psk"]?.string, let psk = [UInt8](hex: pskHex), psk.count == 32
            else { throw DaemonError("\(path): peer \(index + 1) lacks a valid public_key or psk") }
            let name = t["name"]?.string ?? "peer"
            let addresses = (t["addresses"]?.array ?? []).compactMap { $0.string }.map(PeerAddress.init)
            let policy = try Self.policy(in: t, peer: "\(path): peer \(index + 1) (\(name))")
            loaded.append(StoredPeer(identity: DeviceIdentity(staticPublicKey: key, name: name), psk: psk, addresses: addresses, policy: policy))
        }
        return loaded
    }

    /// A peer's policy keys; absent ones keep the default (everything, both ways).
    static func policy(in t: TOMLTable, peer: String) throws -> PeerPolicy {
        var policy = PeerPolicy.open
        if let value = t["direction"] {
            guard let text = value.string, let direction = PeerPolicy.Direction(rawValue: text) else {
                throw DaemonError("\(peer): direction must be one of \(PeerPolicy.Direction.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            policy.direction = direction
        }
        if let value = t["selections"] {
            let names = value.array?.compactMap { $0.string } ?? []
            let parsed = names.compactMap { Selection(name: $0) }
            guard value.array?.count == names.count, parsed.count == names.count else {
                throw DaemonError("\(peer): selections must be a list of \"clipboard\" and \"primary\"")
            }
            policy.selections = Set(parsed)
        }
        if let value = t["mime_types"] {
            guard let list = value.array, case let types = list.compactMap({ $0.string }), types.count == list.count else {
                throw DaemonError("\(peer): mime_types must be a list of MIME types or type/* patterns")
            }
            if let problem = PeerPolicy.problem(inMIMEPatterns: types) { throw DaemonError("\(peer): mime_types: \(problem)") }
            policy.mimeTypes = types
        }
        return policy
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

    /// Adds or replaces a peer (by device id, in its place) and saves.
    public func upsert(_ peer: StoredPeer) throws {
        var next = peers
        if let index = next.firstIndex(where: { $0.deviceID == peer.deviceID }) { next[index] = peer } else { next.append(peer) }
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
            text += "name = \(TOMLText.basicString(p.name))\n"
            text += "public_key = \"\(p.identity.staticPublicKey.hexString)\"\n"
            text += "psk = \"\(p.psk.hexString)\"\n"
            text += "addresses = [\(p.addresses.map { TOMLText.basicString($0.description) }.joined(separator: ", "))]\n"
            if p.policy.direction != .both { text += "direction = \"\(p.policy.direction.rawValue)\"\n" }
            if p.policy.selections != PeerPolicy.open.selections {
                text += "selections = [\(Selection.allCases.filter(p.policy.selections.contains).map { TOMLText.basicString($0.description) }.joined(separator: ", "))]\n"
            }
            if let types = p.policy.mimeTypes { text += "mime_types = [\(types.map(TOMLText.basicString).joined(separator: ", "))]\n" }
        }
        try PrivateFiles.writeAtomically(path, contents: Array(text.utf8))
        peers = next
    }
}
