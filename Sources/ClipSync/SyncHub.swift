import ClipWire

/// The far end of one engine session: a peer daemon's encrypted connection, a guest's SPICE
/// agent, or a test's in-memory link. The hub carries the engine's session actions out
/// through this, whichever it is.
///
/// Called by the hub's owner's thread only (the daemon's event loop).
public protocol SessionEndpoint: AnyObject {
    /// Who is at the other end, for logs and `--wait` messages.
    var sessionName: String { get }
    /// Delivers one message of the engine.
    func send(_ message: SessionMessage)
    /// The engine has item bytes for the session: pull them (`SyncHub.nextStreamMessage`)
    /// while the transport takes more.
    func streamReady()
    /// The engine found the session broken: end it (a peer) or start it over (an agent).
    func breakSession(reason: String)
}

/// What the engine's actions mean on this device: an item to put on the desktop, readers
/// to wake, an acknowledgement to hand to whoever waits for it.
///
/// Called by the hub's owner's thread only.
public protocol SyncHubLocal: AnyObject {
    /// An item became current (`SyncAction.apply`).
    func applied(_ header: ItemHeader, held: ClipItem?, from session: SessionID?)
    /// More of an item being read here arrived, or its transfer failed.
    func readable(_ item: ItemID)
    /// A peer said what it did with one of our offers.
    func acknowledged(_ item: ItemID, by session: SessionID, status: SessionMessage.Ack.Status)
    /// A batch of actions was carried out (what depends on the engine's state may look again).
    func actionsPerformed()
}

/// The sync engine with its sessions: gives each session an id, carries out every action
/// the engine returns (session actions on the session's endpoint, the rest on `local`), and
/// pulls item bytes for endpoints. This is the one `SyncAction` driver: the daemon runs it,
/// and so do the engine's in-memory tests.
///
/// Not thread-safe: one owner, on one thread (the daemon's event loop).
public final class SyncHub {
    public let engine: SyncEngine
    /// Where actions about this device go; set once by the owner before any session opens.
    public weak var local: SyncHubLocal?
    public private(set) var endpoints: [SessionID: SessionEndpoint] = [:]
    private var nextSession = 1

    public init(engine: SyncEngine) { self.engine = engine }

    /// Gives `endpoint` a new session id. The caller then opens the session in the engine
    /// (`engine.sessionOpened`) and performs what it returns.
    public func register(_ endpoint: SessionEndpoint) -> SessionID {
        let id = SessionID(nextSession)
        nextSession += 1
        endpoints[id] = endpoint
        return id
    }

    /// Ends session `id` if `endpoint` still holds it: the engine forgets it and what
    /// waited on it fails. False when the session was already gone or another's.
    @discardableResult
    public func close(_ id: SessionID, of endpoint: SessionEndpoint, reason: String? = nil) -> Bool {
        guard endpoints[id] === endpoint else { return false }
        endpoints[id] = nil
        perform(engine.sessionClosed(id, reason: reason))
        return true
    }

    public func endpoint(_ id: SessionID) -> SessionEndpoint? { endpoints[id] }

    /// A message arrived on session `id`.
    public func received(_ message: SessionMessage, on id: SessionID) {
        perform(engine.received(message, on: id))
    }

    /// The next DATA or DATA_END the engine has for session `id`, if one is ready; carries
    /// out whatever pulling it set off.
    public func nextStreamMessage(on id: SessionID) -> SessionMessage? {
        let (message, actions) = engine.nextStreamMessage(on: id)
        perform(actions)
        return message
    }

    /// Carries out the engine's actions, in order.
    public func perform(_ actions: [SyncAction]) {
        for action in actions {
            switch action {
            case .send(let id, let message): endpoints[id]?.send(message)
            case .streamReady(let id): endpoints[id]?.streamReady()
            case .close(let id, let reason): endpoints[id]?.breakSession(reason: reason)
            case .apply(let header, let held, let from): local?.applied(header, held: held, from: from)
            case .readable(let item): local?.readable(item)
            case .acknowledged(let item, let id, let status): local?.acknowledged(item, by: id, status: status)
            }
        }
        local?.actionsPerformed()
    }
}
