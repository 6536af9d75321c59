import ClipWire

/// Identifies one session (one encrypted connection to one peer) inside a daemon.
public struct SessionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public var description: String { "session#\(rawValue)" }
    public static func < (a: SessionID, b: SessionID) -> Bool { a.rawValue < b.rawValue }
}

/// What the engine asks its owner to do. The engine performs no I/O; the daemon (or a test)
/// carries these out in order.
public enum SyncAction {
    /// Send a message on a session.
    case send(SessionID, SessionMessage)
    /// Stream an item's bytes on a session as DATA chunks followed by DATA_END with the
    /// session's item MAC.
    case stream(SessionID, requestID: UInt32, item: ClipItem)
    /// The item is now the current one for its selection: the backend must own it.
    case apply(ClipItem, from: SessionID?)
    /// A peer reported what it did with one of our offers.
    case acknowledged(ItemID, by: SessionID, status: SessionMessage.Ack.Status)
    /// The peer broke the protocol: close the session (the reason is one line for the log).
    case close(SessionID, reason: String)
}
