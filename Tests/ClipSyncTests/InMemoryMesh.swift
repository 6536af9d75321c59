import ClipCrypto
import ClipSync
import ClipWire

/// Several engines joined by in-memory links, the way NIOEmbedded joins channels: every
/// action is carried out by hand, messages are encoded and decoded as on the wire, streams
/// are pulled from the engine exactly as the daemon's transport pulls them, and the test
/// decides when the "network" delivers.
final class InMemoryMesh {
    struct Link { let a: String; let sessionAtA: SessionID; let b: String; let sessionAtB: SessionID }

    var engines: [String: SyncEngine] = [:]
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
    private var nextSession = 1
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
        engines[name] = SyncEngine(deviceID: id, deviceName: name, maximumItemSize: maximumItemSize, selections: selections,
                                   lazyThreshold: lazyThreshold, chunkCacheBudget: chunkCacheBudget, wallMilliseconds: { clock.now() })
    }

    @discardableResult
    /// Joins `a` and `b`; `aForB` is a's policy for b, `bForA` b's for a.
    func connect(_ a: String, _ b: String, aForB: PeerPolicy = .open, bForA: PeerPolicy = .open) -> Link {
        let link = Link(a: a, sessionAtA: SessionID(nextSession), b: b, sessionAtB: SessionID(nextSession + 1))
        nextSession += 2
        links.append(link)
        perform(engines[a]!.sessionOpened(link.sessionAtA, peer: engines[b]!.deviceID, policy: aForB), at: a)
        perform(engines[b]!.sessionOpened(link.sessionAtB, peer: engines[a]!.deviceID, policy: bForA), at: b)
        return link
    }

    func disconnect(_ link: Link) {
        guard links.contains(where: { $0.sessionAtA == link.sessionAtA }) else { return }
        links.removeAll { $0.sessionAtA == link.sessionAtA }
        queue.removeAll { $0.session == link.sessionAtA || $0.session == link.sessionAtB }
        streaming.removeAll { $0.session == link.sessionAtA || $0.session == link.sessionAtB }
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
                perform(engines[to]!.received(message, on: session), at: to)
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
        let (message, actions) = engines[name]!.nextStreamMessage(on: session)
        if let message {
            streaming.append((name, session))
            send(message, on: session, from: name)
        }
        perform(actions, at: name)
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

    private func send(_ message: SessionMessage, on session: SessionID, from name: String) {
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

    func perform(_ actions: [SyncAction], at name: String) {
        for action in actions {
            switch action {
            case .send(let session, let message):
                send(message, on: session, from: name)
            case .streamReady(let session):
                if !streaming.contains(where: { $0.name == name && $0.session == session }) { streaming.append((name, session)) }
            case .apply(let header, _, _):
                applied[name, default: []].append(header)
            case .readable:
                break  // `read` polls after every step
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
        // Only used from the test's own thread; the box exists to give the engines a
        // @Sendable closure over the mesh's adjustable clock.
        private var value: UInt64 = 1_700_000_000_000
        func now() -> UInt64 { value }
        func set(_ now: UInt64) { value = now }
    }
}
