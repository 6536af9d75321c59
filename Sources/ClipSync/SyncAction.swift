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
    /// The session has item bytes to stream: pull them with `SyncEngine.nextStreamMessage`
    /// for as long as the transport takes more.
    case streamReady(SessionID)
    /// An item is now the current one for its selection: the backend must own it. `held` is
    /// the item when all its bytes are here; otherwise they are read on demand through
    /// `SyncEngine.beginRead` / `read`.
    case apply(ItemHeader, held: ClipItem?, from: SessionID?)
    /// More of an item being read locally is here, or its transfer failed: readers waiting
    /// on it read again.
    case readable(ItemID)
    /// A peer reported what it did with one of our offers.
    case acknowledged(ItemID, by: SessionID, status: SessionMessage.Ack.Status)
    /// The peer broke the protocol: close the session (the reason is one line for the log).
    case close(SessionID, reason: String)
}

/// What a local read of an item found (`SyncEngine.read`).
public enum ReadOutcome: Equatable, Sendable {
    /// Bytes at the offset asked for (at least one).
    case bytes(ArraySlice<UInt8>)
    /// Not here yet: read again after `.readable` for the item.
    case pending
    /// The offset is the representation's end.
    case end
    /// The bytes cannot be had; one line for people.
    case failed(String)
}

/// One transfer of item bytes under way, for `clipd status`.
public struct TransferStatus: Sendable, Equatable {
    public enum Direction: Sendable, Equatable { case receiving, sending }
    public let item: ItemID
    public let selection: Selection
    public let direction: Direction
    /// The session bytes come from or go to.
    public let session: SessionID
    public let done: UInt64
    public let total: UInt64
    /// Wall-clock milliseconds since the transfer started.
    public let elapsedMilliseconds: UInt64
    /// Milliseconds since its bytes last moved: from the peer for a transfer received (any
    /// range asked of that peer counts), to the peer for one sent.
    public let quietMilliseconds: UInt64
}
