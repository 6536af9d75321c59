import ClipCrypto
import ClipSync
import ClipWire

/// Several engines joined by in-memory links, the way NIOEmbedded joins channels: every
/// action is carried out by hand, messages are encoded and decoded as on the wire, and the
/// test decides when the "network" delivers.
final class InMemoryMesh {
    struct Link { let a: String; let sessionAtA: SessionID; let b: String; let sessionAtB: SessionID }

    var engines: [String: SyncEngine] = [:]
    var links: [Link] = []
    var queue: [(to: String, session: SessionID, bytes: [UInt8])] = []
    var applied: [String: [ClipItem]] = [:]
    var acks: [String: [(ItemID, SessionMessage.Ack.Status)]] = [:]
    var closed: [String: [String]] = [:]
    var delivered = 0
    /// Set to corrupt the MAC in every DATA_END sent.
    var corruptDigests = false
    /// One item-MAC key for every link of the mesh (the daemon derives one per session).
    static let macKey = [UInt8](repeating: 0x42, count: 32)
    static func verify(_ requestID: UInt32, _ data: [UInt8], _ mac: [UInt8]) -> Bool {
        ItemMAC.verify(key: macKey, requestID: requestID, data: data, received: mac)
    }
    var chunkSize = 256 * 1024
    private var nextSession = 1
    var wallClock: UInt64 = 1_700_000_000_000

    func add(_ name: String, maximumItemSize: UInt64 = 64 << 20, selections: Set<Selection> = [.clipboard, .primary]) {
        let clock = ClockBox(self)
        let id = DeviceID(bytes: Array(SHA256.hash(Array(name.utf8)).prefix(16)))
        engines[name] = SyncEngine(deviceID: id, deviceName: name, maximumItemSize: maximumItemSize, selections: selections,
                                   wallMilliseconds: { clock.now() })
    }

    @discardableResult
    func connect(_ a: String, _ b: String) -> Link {
        let link = Link(a: a, sessionAtA: SessionID(nextSession), b: b, sessionAtB: SessionID(nextSession + 1))
        nextSession += 2
        links.append(link)
        perform(engines[a]!.sessionOpened(link.sessionAtA, peer: engines[b]!.deviceID, verifier: Self.verify), at: a)
        perform(engines[b]!.sessionOpened(link.sessionAtB, peer: engines[a]!.deviceID, verifier: Self.verify), at: b)
        return link
    }

    func disconnect(_ link: Link) {
        links.removeAll { $0.sessionAtA == link.sessionAtA }
        queue.removeAll { $0.session == link.sessionAtA || $0.session == link.sessionAtB }
        perform(engines[link.a]!.sessionClosed(link.sessionAtA), at: link.a)
        perform(engines[link.b]!.sessionClosed(link.sessionAtB), at: link.b)
    }

    @discardableResult
    func copy(at name: String, _ text: String, selection: Selection = .clipboard) -> ClipItem {
        copy(at: name, bytes: Array(text.utf8), selection: selection)
    }

    @discardableResult
    func copy(at name: String, bytes: [UInt8], mimeType: String = "text/plain;charset=utf-8", selection: Selection = .clipboard) -> ClipItem {
        let (item, actions) = engines[name]!.localCopy(selection: selection, representations: [(mimeType, bytes)])
        perform(actions, at: name)
        return item
    }

    /// Delivers queued messages until none are left (or `limit` deliveries, which fails the
    /// caller's expectations about loops).
    func run(limit: Int = 10_000) {
        var budget = limit
        while !queue.isEmpty && budget > 0 {
            let (to, session, bytes) = queue.removeFirst()
            budget -= 1
            delivered += 1
            guard let message = try? SessionMessage.decode(bytes) else { fatalError("undecodable message in mesh") }
            perform(engines[to]!.received(message, on: session), at: to)
        }
    }

    func text(at name: String, _ selection: Selection = .clipboard) -> String? {
        engines[name]!.currentItem(selection).map { String(decoding: $0.data, as: UTF8.self) }
    }

    private func peer(of name: String, session: SessionID) -> (String, SessionID)? {
        for l in links {
            if l.a == name && l.sessionAtA == session { return (l.b, l.sessionAtB) }
            if l.b == name && l.sessionAtB == session { return (l.a, l.sessionAtA) }
        }
        return nil
    }

    func perform(_ actions: [SyncAction], at name: String) {
        for action in actions {
            switch action {
            case .send(let session, let message):
                if let (to, remote) = peer(of: name, session: session) { queue.append((to, remote, message.encoded())) }
            case .stream(let session, let request, let item):
                guard let (to, remote) = peer(of: name, session: session) else { continue }
                var offset = 0
                while offset < item.data.count {
                    let end = min(offset + chunkSize, item.data.count)
                    queue.append((to, remote, SessionMessage.data(.init(requestID: request, offset: UInt64(offset), bytes: item.data[offset..<end])).encoded()))
                    offset = end
                }
                var mac = try! ItemMAC.tag(key: Self.macKey, requestID: request, data: item.data)
                if corruptDigests { mac[0] ^= 1 }
                queue.append((to, remote, SessionMessage.dataEnd(.init(requestID: request, totalLength: UInt64(item.data.count), mac: mac)).encoded()))
            case .apply(let item, _):
                applied[name, default: []].append(item)
            case .acknowledged(let id, _, let status):
                acks[name, default: []].append((id, status))
            case .close(let session, let reason):
                closed[name, default: []].append(reason)
                if let link = links.first(where: { ($0.a == name && $0.sessionAtA == session) || ($0.b == name && $0.sessionAtB == session) }) {
                    disconnect(link)
                }
            }
        }
    }

    final class ClockBox: @unchecked Sendable {
        // Only read from the test's own thread; the box exists to give the engine a
        // @Sendable closure over the mesh's adjustable clock.
        unowned let mesh: InMemoryMesh
        init(_ mesh: InMemoryMesh) { self.mesh = mesh }
        func now() -> UInt64 { mesh.wallClock }
    }
}
