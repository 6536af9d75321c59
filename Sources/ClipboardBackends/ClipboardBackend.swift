import ClipSync
import ClipWire

/// A new item copied on this machine, as a backend read it.
public struct LocalCopy: Sendable {
    public let selection: Selection
    public let representations: [(mimeType: String, bytes: [UInt8])]

    public init(selection: Selection, representations: [(mimeType: String, bytes: [UInt8])]) {
        self.selection = selection
        self.representations = representations
    }
}

/// A desktop clipboard the daemon keeps in sync: it reports local copies and takes
/// ownership of items that arrive from peers. Nobody above a backend tells them apart.
///
/// Threading: `start`, `own` and `stop` are called on the daemon's event loop and return at
/// once; a backend does its work on its own thread and calls `onCopy` and `log` from there.
public protocol ClipboardBackend: AnyObject {
    /// A short name for status lines ("memory", "x11 :0").
    var description: String { get }

    /// Starts watching the desktop. Throws a one-line error when the backend cannot run at
    /// all (a display that goes away later is retried, not thrown). `onReconnect` is called
    /// when a lost desktop comes back: the daemon then hands it its current items again.
    func start(onCopy: @escaping @Sendable (LocalCopy) -> Void, onReconnect: @escaping @Sendable () -> Void,
               log: @escaping @Sendable (String) -> Void) throws

    /// Makes `item` the desktop's current selection (it came from a peer or from `clipd
    /// send`). The backend must not report its own ownership back as a local copy.
    func own(_ item: ClipItem)

    /// Stops watching and releases the desktop.
    func stop()
}

/// No desktop: the daemon's engine is the clipboard (`clipd send` / `clipd recv`).
public final class MemoryBackend: ClipboardBackend {
    public init() {}
    public var description: String { "memory" }
    public func start(onCopy: @escaping @Sendable (LocalCopy) -> Void, onReconnect: @escaping @Sendable () -> Void,
                      log: @escaping @Sendable (String) -> Void) throws {}
    public func own(_ item: ClipItem) {}
    public func stop() {}
}
