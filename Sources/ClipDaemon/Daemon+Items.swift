import ClipSync
import ClipboardBackends
import ClipWire
import Foundation
import NIOCore
import NIOPosix

// MARK: Local copies, and the bytes of items read on this machine

extension Daemon: SessionHost {
    /// The next DATA or DATA_END the engine has for `session`; what pulling it set off
    /// (fetching a relay's next window) is carried out at once.
    func nextStreamMessage(on session: SessionID) -> SessionMessage? { hub.nextStreamMessage(on: session) }

    /// A new local item (a desktop copy, `clipd send`): its header is made now, so its clock
    /// reading orders it among other copies; a large one is chunked and hashed off the
    /// event loop, on two threads; then it becomes current and is offered to every peer.
    /// `done` runs on the loop with the committed item just before it is offered (so what
    /// waits for acknowledgements is in place), or with nil when a newer item became
    /// current meanwhile (it lost, as an older copy does).
    func intakeLocalCopy(selection: Selection, representations: [RepresentationInfo], data: [UInt8],
                         done: @escaping (ClipItem?) -> Void) {
        assertOnLoop()
        scheduleMemoryTrim()
        let header = engine.localHeader(selection: selection, representations: representations)
        guard header.totalSize > UInt64(SyncEngine.inlineThreshold) else {
            commitLocalCopy(ClipItem(header: header, data: data), done: done)
            return
        }
        let parallel = header.totalSize >= 4 << 20 ? Self.hashOnTwoThreads : ItemChunking.serial
        let finish = NIOLoopBound(done, eventLoop: loop)  // runs where it was made: on the loop
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) {
            ItemChunking.chunked(header: header, data: data, parallel: parallel)
        }.whenComplete { [self] result in
            guard case .success(let item) = result else {
                logger.warning("could not chunk a \(SizeParser.format(header.totalSize)) \(selection) item: the daemon is stopping")
                finish.value(nil)
                return
            }
            commitLocalCopy(item, done: finish.value)
        }
    }

    private func commitLocalCopy(_ item: ClipItem, done: (ClipItem?) -> Void) {
        guard !stopped else { return done(nil) }
        let actions = engine.commitLocalCopy(item)
        guard engine.currentHeader(item.selection)?.id == item.id else { return done(nil) }
        done(item)
        hub.perform(actions)
    }

    /// Runs the batches on this thread and one more: the chunks of a large copy are hashed
    /// on both cores while the event loop carries on.
    static let hashOnTwoThreads: ItemChunking.ParallelFor = { count, body in
        guard count > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        let finished = DispatchSemaphore(value: 0)
        let helper = Thread {
            for i in stride(from: 1, to: count, by: 2) { body(i) }
            finished.signal()
        }
        helper.start()
        for i in stride(from: 0, to: count, by: 2) { body(i) }
        finished.wait()
    }

    /// The item as this machine's desktop and readers see it, and what pastes of it are
    /// served from: the item itself when its bytes are here, else the engine, which fetches
    /// them while the paste waits. An item that carries files shows lists naming copies of
    /// them here instead of the bundle (`FileDelivery`); a peer's list without files shows
    /// no `file:` URIs (`PeerURIListContent`).
    func localView(of header: ItemHeader, held: ClipItem?) -> (header: ItemHeader, content: ItemContent) {
        let fromPeer = header.id.origin != identity.deviceID
        if FileDelivery.carriesFiles(header) && fromPeer { return files.view(of: header, held: held) }
        let content: ItemContent = held.map { HeldContent($0) } ?? EngineItemContent(daemon: self, header: header)
        if fromPeer, let list = header.representations.firstIndex(where: { $0.mimeType == FileDelivery.uriList }) {
            return (header, PeerURIListContent(daemon: self, header: header, heldItem: held, base: content, list: list))
        }
        return (header, content)
    }
}

extension Daemon {
    /// A paste of an item failed: the desktop keeps the reason for `clipd status`.
    func pasteFailed(_ id: ItemID, reason: String) { desktop.pasteFailed(id, reason: reason) }

    /// A paste of an item was served whole.
    func pasteServed(_ id: ItemID) { desktop.pasteServed(id) }
}

/// What reading an item's bytes on this machine needs of the daemon: the engine (through
/// its hub), readers waiting for bytes, the files that come with items, and where a paste's
/// outcome is reported. Readers and file delivery reach the daemon through this alone.
///
/// Called on the daemon's event loop, which every reader hops to first.
protocol ItemReadHost: AnyObject, Sendable {
    var loop: EventLoop { get }
    var hub: SyncHub { get }
    var localReads: LocalReads { get }
    var files: FileDelivery { get }
    /// A paste of the item failed (`clipd status` says so until one succeeds).
    func pasteFailed(_ id: ItemID, reason: String)
    /// A paste of the item was served whole.
    func pasteServed(_ id: ItemID)
}

extension Daemon: ItemReadHost {}

/// Readers waiting for bytes still on their way, by item: each retries when the engine
/// says more of the item is here (`.readable`). Confined to the daemon's loop.
final class LocalReads {
    private var waiting: [ItemID: [() -> Void]] = [:]

    func wait(for id: ItemID, retry: @escaping () -> Void) { waiting[id, default: []].append(retry) }

    func wake(_ id: ItemID) {
        for retry in waiting.removeValue(forKey: id) ?? [] { retry() }
    }
}

/// The bytes of an item that are not all here: reads go to the engine.
struct EngineItemContent: ItemContent {
    let daemon: ItemReadHost
    let header: ItemHeader
    var held: ClipItem? { nil }
    func makeReader(representation: Int) -> ItemReader { EngineItemReader(daemon: daemon, item: header.id, representation: representation) }
}

/// Reads one representation through the engine for one transfer: the first read starts the
/// fetch (`beginRead`), `close` ends its claim (`endRead`). Answers come on the daemon's
/// loop as soon as the bytes asked for are here.
///
/// Sound as `@unchecked Sendable`: `begun` and `closed` are only touched on the daemon's
/// loop, where every entry point hops first.
final class EngineItemReader: ItemReader, @unchecked Sendable {
    private let daemon: ItemReadHost
    private let item: ItemID
    private let representation: Int
    private var begun = false
    private var closed = false

    init(daemon: ItemReadHost, item: ItemID, representation: Int) {
        self.daemon = daemon
        self.item = item
        self.representation = representation
    }

    func read(from offset: UInt64, deliver: @escaping @Sendable (ReadOutcome) -> Void) {
        if daemon.loop.inEventLoop {
            attempt(offset, deliver)
        } else {
            daemon.loop.execute { self.attempt(offset, deliver) }
        }
    }

    private func attempt(_ offset: UInt64, _ deliver: @escaping @Sendable (ReadOutcome) -> Void) {
        guard !closed else { return deliver(.failed("the transfer was closed")) }
        if !begun {
            begun = true
            let (known, actions) = daemon.hub.engine.beginRead(item)
            daemon.hub.perform(actions)
            guard known else { return deliver(.failed("the item is no longer here")) }
        }
        let outcome = daemon.hub.engine.read(item, representation: representation, offset: offset)
        switch outcome {
        case .pending: daemon.localReads.wait(for: item) { [self] in attempt(offset, deliver) }
        case .failed(let reason): daemon.pasteFailed(item, reason: reason)
        case .end: daemon.pasteServed(item)
        case .bytes: break
        }
        if outcome != .pending { deliver(outcome) }
    }

    func close() {
        daemon.loop.execute { [self] in
            guard !closed else { return }
            closed = true
            if begun { daemon.hub.perform(daemon.hub.engine.endRead(item)) }
        }
    }
}
