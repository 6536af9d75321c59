import ClipSync
import ClipWire

/// A new item copied on this machine, as a backend read it. No representations: the
/// desktop's selection was cleared (reported to watchers, never synced).
public struct LocalCopy: Sendable {
    public let selection: Selection
    public let representations: [(mimeType: String, bytes: [UInt8])]

    public init(selection: Selection, representations: [(mimeType: String, bytes: [UInt8])]) {
        self.selection = selection
        self.representations = representations
    }
}

/// The bytes of an item a backend owns. An item held whole gives them at once (`held`);
/// otherwise they are read on demand, fetched from a peer while the paste waits, and
/// arrive as they come.
///
/// Threading: usable from any thread.
public protocol ItemContent: Sendable {
    /// The item, when all of its bytes are here.
    var held: ClipItem? { get }
    /// A reader of one representation, for one transfer.
    func makeReader(representation: Int) -> ItemReader
}

/// Reads one representation of an item from the start to its end, for one transfer (a
/// paste). Threading: callable from any thread; `deliver` runs on an arbitrary thread.
public protocol ItemReader: AnyObject, Sendable {
    /// Asks for the bytes at `offset`. `deliver` is called exactly once: with bytes (at
    /// least one), `.end` at the representation's end, or `.failed` with one line.
    func read(from offset: UInt64, deliver: @escaping @Sendable (ReadOutcome) -> Void)
    /// The transfer is over (finished, or its reader went away); no more reads follow.
    func close()
}

/// The content of an item whose bytes are all here.
public struct HeldContent: ItemContent {
    public let item: ClipItem
    public init(_ item: ClipItem) { self.item = item }
    public var held: ClipItem? { item }
    public func makeReader(representation: Int) -> ItemReader { HeldReader(item: item, representation: representation) }
}

/// Reads a held item: every answer comes at once, on the caller's thread.
final class HeldReader: ItemReader {
    let item: ClipItem
    let representation: Int
    init(item: ClipItem, representation: Int) {
        self.item = item
        self.representation = representation
    }
    func read(from offset: UInt64, deliver: @escaping @Sendable (ReadOutcome) -> Void) {
        deliver(item.piece(representation: representation, at: offset).map { .bytes($0) } ?? .end)
    }
    func close() {}
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

    /// Makes the item with `header` the desktop's current selection (it came from a peer or
    /// from `clipd send`), answering pastes from `content`. The backend must not report its
    /// own ownership back as a local copy.
    func own(_ header: ItemHeader, content: ItemContent)

    /// Stops watching and releases the desktop.
    func stop()
}

/// No desktop: the daemon's engine is the clipboard (`clipd send` / `clipd recv`).
public final class MemoryBackend: ClipboardBackend {
    public init() {}
    public var description: String { "memory" }
    public func start(onCopy: @escaping @Sendable (LocalCopy) -> Void, onReconnect: @escaping @Sendable () -> Void,
                      log: @escaping @Sendable (String) -> Void) throws {}
    public func own(_ header: ItemHeader, content: ItemContent) {}
    public func stop() {}
}

extension ClipboardBackend {
    /// Owns an item whose bytes are all here.
    public func own(_ item: ClipItem) { own(item.header, content: HeldContent(item)) }
}

/// Some representations of another content, by index: what a desktop is shown of an item
/// when some of its types are kept off it. Readers are the underlying content's.
public struct FilteredContent: ItemContent {
    public let base: ItemContent
    /// For each representation shown, its index in `base`.
    public let indices: [Int]

    public init(base: ItemContent, indices: [Int]) {
        self.base = base
        self.indices = indices
    }

    /// Never whole: the held item's representations are not the ones shown.
    public var held: ClipItem? { nil }

    public func makeReader(representation: Int) -> ItemReader { base.makeReader(representation: indices[representation]) }
}
