import ClipCrypto
import ClipSync
import ClipWire

/// Several engines joined by in-memory links, the way NIOEmbedded joins channels: each
/// node's actions are carried out by the daemon's own driver (a `SyncHub`), messages are
/// encoded and decoded as on the wire, streams are pulled through the hub exactly as the
/// daemon's transport pulls them, and the test decides when the "network" delivers.
final class InMemoryMesh {
    struct Link { let a: String; let sessionAtA: SessionID; let b: String; let sessionAtB: SessionID }

    var hubs: [String: SyncHub] = [:]
    var engines: [String: SyncEngine] { hubs.mapValues(\.engine) }
    private var nodes: [String: Node] = [:]
    var links: [Link] = []
    var queue: [(to: String, session: SessionID, bytes: [UInt8])] = []
    /// Sessions with item bytes to stream, in the order they became ready.
    var streaming: [(name: String, session: SessionID)] = []
    var applied: [String: [ItemHeader]] = [:]
    var acks: [String: [(ItemID, SessionMessage.Ack.Status)]] = [:]
    var closed: [String: [String]] = [:]
    /// Messages sent, by type name, per sender.
    var sent: [String: [String: Int]] = [:]
    var delivered = 0
    /// Set to flip a bit in the first byte of every DATA record's payload.
    var corruptData = false
    /// Nodes that have gone silent (a frozen process, a dead path): what they would send is
    /// lost and what is sent to them never arrives, while their sessions stay open.
    var silent: Set<String> = []
    private let clock = ClockBox()
    /// The wall clock every engine of the mesh reads, in milliseconds.
    var wallClock: UInt64 {
        get { clock.now() }
        set { clock.set(newValue) }
    }

    func add(_ name: String, maximumItemSize: UInt64 = 64 << 20, selections: Set<Selection> = [.clipboard, .primary],
             lazyThreshold: UInt64 = 256 * 1024, chunkCacheBudget: Int = 32 << 20) {
        let clock = self.clock
        let id = DeviceID(bytes: Array(SHA256.hash(Array(name.utf8)).prefix(16)))
        let hub = SyncHub(engine: SyncEngine(deviceID: id, deviceName: name, maximumItemSize: maximumItemSize, selections: selections,
                                             lazyThreshold: lazyThreshold, chunkCacheBudget: chunkCacheBudget, wallMilliseconds: { clock.now() }))
        let node = Node(mesh: self, name: name)
        hub.local = node
        hubs[name] = hub
        nodes[name] = node
    }

    @discardableResult
    /// Joins `a` and `b`; `aForB` is a's policy for b, `bForA` b's for a.
    func connect(_ a: String, _ b: String, aForB: PeerPolicy = .open, bForA: PeerPolicy = .open) -> Link {
        let endA = End(mesh: self, node: a, peerName: b), endB = End(mesh: self, node: b, peerName: a)
        endA.session = hubs[a]!.register(endA)
        endB.session = hubs[b]!.register(endB)
        let link = Link(a: a, sessionAtA: endA.session, b: b, sessionAtB: endB.session)
        links.append(link)
        perform(engines[a]!.sessionOpened(link.sessionAtA, peer: engines[b]!.deviceID, policy: aForB), at: a)
        perform(engines[b]!.sessionOpened(link.sessionAtB, peer: engines[a]!.deviceID, policy: bForA), at: b)
        return link
    }

    func disconnect(_ link: Link) {
        guard links.contains(where: { $0.a == link.a && $0.sessionAtA == link.sessionAtA }) else { return }
        links.removeAll { $0.a == link.a && $0.sessionAtA == link.sessionAtA }
        let ends = [(link.a, link.sessionAtA), (link.b, link.sessionAtB)]
        queue.removeAll { message in ends.contains { $0 == (message.to, message.session) } }
        streaming.removeAll { stream in ends.contains { $0 == (stream.name, stream.session) } }
        for (name, session) in ends {
            let hub = hubs[name]!
            if let end = hub.endpoint(session) { hub.close(session, of: end) }
        }
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

    /// Delivers queued messages and pulls ready streams, one record at a time and in turn,
    /// until nothing is left (or `limit` steps, which fails the caller's expectations).
    func run(limit: Int = 100_000) {
        var budget = limit
        while budget > 0 {
            budget -= 1
            if !queue.isEmpty {
                let (to, session, bytes) = queue.removeFirst()
                guard !silent.contains(to) else { continue }
                delivered += 1
                guard let message = try? SessionMessage.decode(bytes) else { fatalError("undecodable message in mesh") }
                hubs[to]!.received(message, on: session)
            } else if !streaming.isEmpty {
                pullOne()
            } else {
                return
            }
        }
    }

    /// Pulls one record from the first ready stream (which goes to the back of the line).
    private func pullOne() {
        let (name, session) = streaming.removeFirst()
        guard !silent.contains(name) else { return }
        // The hub pulls and carries out what pulling set off, as for the daemon's transports.
        if let message = hubs[name]!.nextStreamMessage(on: session) {
            streaming.append((name, session))
            send(message, on: session, from: name)
        }
    }

    /// Reads every byte of representation `rep` of the selection's item at `name`, letting
    /// the network run while it waits. Nil when the read fails.
    func read(at name: String, _ selection: Selection = .clipboard, representation rep: Int = 0) -> [UInt8]? {
        let engine = engines[name]!
        guard let header = engine.currentHeader(selection) else { return nil }
        let (known, actions) = engine.beginRead(header.id)
        guard known else { return nil }
        perform(actions, at: name)
        defer { perform(engine.endRead(header.id), at: name) }
        var out: [UInt8] = []
        while true {
            switch engine.read(header.id, representation: rep, offset: UInt64(out.count)) {
            case .bytes(let bytes): out += bytes
            case .end: return out
            case .failed: return nil
            case .pending:
                let before = delivered
                run(limit: 1)
                if delivered == before && queue.isEmpty && streaming.isEmpty { return nil }  // nothing will come
            }
        }
    }

    func text(at name: String, _ selection: Selection = .clipboard) -> String? {
        engines[name]!.currentItem(selection).map { String(decoding: $0.data, as: UTF8.self) }
    }

    func peer(of name: String, session: SessionID) -> (String, SessionID)? {
        for l in links {
            if l.a == name && l.sessionAtA == session { return (l.b, l.sessionAtB) }
            if l.b == name && l.sessionAtB == session { return (l.a, l.sessionAtA) }
        }
        return nil
    }

    func count(_ type: String, from name: String) -> Int { sent[name]?[type] ?? 0 }

    fileprivate func send(_ message: SessionMessage, on session: SessionID, from name: String) {
        guard !silent.contains(name), let (to, remote) = peer(of: name, session: session) else { return }
        var bytes = message.encoded()
        if corruptData, case .data = message { bytes[SessionMessage.dataHeaderByteCount] ^= 1 }
        sent[name, default: [:]][Self.typeName(message), default: 0] += 1
        queue.append((to, remote, bytes))
    }

    static func typeName(_ message: SessionMessage) -> String {
        switch message {
        case .hello: "hello"
        case .offer: "offer"
        case .fetch: "fetch"
        case .data: "data"
        case .dataEnd: "dataEnd"
        case .fetchFailed: "fetchFailed"
        case .ack: "ack"
        case .cancel: "cancel"
        case .ping: "ping"
        case .pong: "pong"
        case .unknown: "unknown"
        }
    }

    /// Carries out actions a test took from an engine itself, through the node's hub.
    func perform(_ actions: [SyncAction], at name: String) { hubs[name]!.perform(actions) }

    /// One end of a link, registered with its node's hub.
    final class End: SessionEndpoint {
        unowned let mesh: InMemoryMesh
        let node: String
        let sessionName: String
        var session = SessionID(0)
        init(mesh: InMemoryMesh, node: String, peerName: String) {
            self.mesh = mesh
            self.node = node
            sessionName = peerName
        }
        func send(_ message: SessionMessage) { mesh.send(message, on: session, from: node) }
        func streamReady() {
            if !mesh.streaming.contains(where: { $0.name == node && $0.session == session }) { mesh.streaming.append((node, session)) }
        }
        func breakSession(reason: String) {
            mesh.closed[node, default: []].append(reason)
            if let link = mesh.links.first(where: { ($0.a == node && $0.sessionAtA == session) || ($0.b == node && $0.sessionAtB == session) }) {
                mesh.disconnect(link)
            }
        }
    }

    /// What a node's engine does on its own device: recorded.
    final class Node: SyncHubLocal {
        unowned let mesh: InMemoryMesh
        let name: String
        init(mesh: InMemoryMesh, name: String) {
            self.mesh = mesh
            self.name = name
        }
        func applied(_ header: ItemHeader, held: ClipItem?, from session: SessionID?) { mesh.applied[name, default: []].append(header) }
        func readable(_ item: ItemID) {}  // `read` polls after every step
        func acknowledged(_ item: ItemID, by session: SessionID, status: SessionMessage.Ack.Status) { mesh.acks[name, default: []].append((item, status)) }
        func actionsPerformed() {}
    }

    final class ClockBox: @unchecked Sendable {
        // Only used from the test's own thread; the box exists to give the engines a
        // @Sendable closure over the mesh's adjustable clock.
        private var value: UInt64 = 1_700_000_000_000
        func now() -> UInt64 { value }
        func set(_ now: UInt64) { value = now }
    }
}
