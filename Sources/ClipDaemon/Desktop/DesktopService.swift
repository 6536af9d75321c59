import ClipSync
import ClipboardBackends
import ClipWire
import Foundation
import Logging
import NIOCore
import NIOPosix

/// What the desktop needs of the rest of the daemon: the current items, the settings,
/// the item as this machine sees it, and where a copy made on the desktop goes.
///
/// Called on the daemon's event loop only.
protocol DesktopHost: AnyObject, Sendable {
    var engine: SyncEngine { get }
    var configuration: DaemonConfiguration { get }
    /// True while `clipd pause` holds: copies stay on the desktop.
    var paused: Bool { get }
    /// The item as this machine's desktop and readers see it (`Daemon.localView`).
    func localView(of header: ItemHeader, held: ClipItem?) -> (header: ItemHeader, content: ItemContent)
    /// A new local item (`Daemon.intakeLocalCopy`): `done` runs on the loop with the item
    /// once it is current, or nil when a newer one won.
    func intakeLocalCopy(selection: Selection, representations: [RepresentationInfo], data: [UInt8], done: @escaping (ClipItem?) -> Void)
    /// A copy made on this desktop became the current item.
    func desktopCopyTaken(_ item: ClipItem)
    /// The desktop's selection was emptied (not synced: clipd keeps its item).
    func desktopCleared(_ selection: Selection)
}

/// This machine's desktop clipboard, as one of the daemon's pieces: it owns the backend
/// (X11, Wayland or the in-memory one), takes in what applications copy (leaving out type
/// names that are no MIME types, a clipboard manager's restore of older text, items over
/// the maximum size; bundling the files a list of files names), gives the desktop the
/// items it should show (less the types it does not write for peers' items), and
/// remembers why the newest pastes of current items failed for `clipd status`.
///
/// Sound as `@unchecked Sendable`: every member is touched on the daemon's event loop
/// only; `start` and `stop` hop there, and the backend's callbacks are sent there.
final class DesktopService: DaemonPiece, @unchecked Sendable {
    let pieceName = "desktop"
    /// The desktop's clipboard.
    let backend: ClipboardBackend
    private unowned let host: DesktopHost
    private let loop: EventLoop
    private let logger: Logger
    /// This device: items from elsewhere are filtered before the desktop owns them.
    private let device: DeviceID
    /// Tells a clipboard manager's restore of older text from a copy.
    private var restoreGuard = RestoreGuard()
    /// Why the newest pastes of items failed, by item: `clipd status` shows it for the
    /// current items until a paste of them succeeds.
    private var undelivered: [ItemID: String] = [:]
    private var stopped = false

    init(backend: ClipboardBackend, host: DesktopHost, device: DeviceID, loop: EventLoop, logger: Logger) {
        self.backend = backend
        self.host = host
        self.device = device
        self.loop = loop
        self.logger = logger
    }

    /// The configured backend. `auto` on Wayland falls back to X11 (through XWayland) when
    /// the compositor has no data-control protocol and DISPLAY is set; an explicit
    /// `wayland` does not, so its start fails with the compositor's one-line error.
    static func makeBackend(configuration: DaemonConfiguration, environment: [String: String], logger: Logger) -> ClipboardBackend {
        let policy = ClipboardPolicy(syncSecrets: configuration.syncSecrets, extraMIMETypes: Set(configuration.extraMIMETypes),
                                     maximumItemSize: Int(clamping: configuration.maximumItemSize))
        let x11 = X11Backend(displayName: nil, selections: configuration.selections, policy: policy)
        switch configuration.resolvedBackend(environment: environment) {
        case .wayland:
            if configuration.backend == .auto && !(environment["DISPLAY"] ?? "").isEmpty {
                do {
                    try WaylandBackend.probe(displayName: nil)
                } catch {
                    logger.notice("not using Wayland: \(error); using X11 on DISPLAY \(environment["DISPLAY"] ?? "") instead")
                    return x11
                }
            }
            return WaylandBackend(displayName: nil, selections: configuration.selections, policy: policy)
        case .x11: return x11
        default: return MemoryBackend()
        }
    }

    /// Connects to the display and starts watching its selections. A display that cannot
    /// be reached is a one-line error; one that goes away later is reconnected to by the
    /// backend, and the current items are given to it again.
    func start() async throws {
        let loop = self.loop
        do {
            try backend.start(
                onCopy: { [self] copy in loop.execute { self.copied(copy) } },
                onReconnect: { [self] in loop.execute { self.ownCurrentItems() } },
                log: { [logger] line in logger.warning("\(line)") })
        } catch {
            throw DaemonError("\(error)")
        }
    }

    /// Stops watching the display; from now on nothing is given to it (the hub stops after
    /// the desktop, and a peer's item may still arrive meanwhile).
    func stop() async {
        try? await loop.submit { [self] in
            stopped = true
            backend.stop()
        }.get()
    }

    /// The backend, for logs and `clipd doctor`.
    var description: String { backend.description }

    /// What `clipd status` says of the desktop: the backend and the selections synced.
    var statusLine: String {
        "backend: \(backend.description); selections: \(host.configuration.selections.map(\.description).sorted().joined(separator: ","))"
    }

    // MARK: Items to the desktop

    /// An item became current (from a peer, a guest, or this machine): the desktop shows it.
    func show(_ header: ItemHeader, held: ClipItem?) {
        guard !stopped, let view = ownership(of: header, held: held) else { return }
        backend.own(view.header, content: view.content)
        restoreGuard.gaveDesktop(header, held: held)
    }

    /// An item sent by `clipd send` is also this desktop's clipboard, as with wl-copy.
    func showSent(_ item: ClipItem) {
        guard !stopped else { return }
        backend.own(item.header, content: HeldContent(item))
        restoreGuard.gaveDesktop(item.header, held: item)
    }

    /// The display came back: it is given the current items again.
    private func ownCurrentItems() {
        guard !stopped else { return }
        for selection in Selection.allCases {
            guard let header = host.engine.currentHeader(selection),
                  let view = ownership(of: header, held: host.engine.currentItem(selection))
            else { continue }
            backend.own(view.header, content: view.content)
        }
    }

    /// The rules for what reaches this desktop (the configuration's extra MIME types).
    private var policy: ClipboardPolicy {
        ClipboardPolicy(syncSecrets: host.configuration.syncSecrets, extraMIMETypes: Set(host.configuration.extraMIMETypes))
    }

    /// What the desktop is given to own of an item: its view, less the types clipd does not
    /// write to a desktop when they come from a peer (`ClipboardPolicy.writesToDesktop`);
    /// nil when none is left.
    private func ownership(of header: ItemHeader, held: ClipItem?) -> (header: ItemHeader, content: ItemContent)? {
        let view = host.localView(of: header, held: held)
        guard header.id.origin != device else { return view }
        let policy = self.policy
        let keep = view.header.representations.indices.filter {
            let type = view.header.representations[$0].mimeType
            // A list naming copies of an item's files is made here, from its URIs.
            return policy.writesToDesktop(mimeType: type) || (type == FileDelivery.gnomeCopiedFiles && FileDelivery.carriesFiles(header))
        }
        if keep.count == view.header.representations.count { return view }
        let dropped = view.header.representations.indices.filter { !keep.contains($0) }.map { view.header.representations[$0].mimeType }
        logger.info("not offering types of a peer's item on this desktop (allow them with extra_mime_types)",
                    metadata: ["item": "\(header.id)", "types": "\(dropped.joined(separator: ", "))"])
        guard !keep.isEmpty else { return nil }
        let shown = ItemHeader(selection: header.selection, id: header.id, clock: header.clock, representations: keep.map { view.header.representations[$0] })
        return (shown, FilteredContent(base: view.content, indices: keep))
    }

    // MARK: Copies from the desktop

    /// An application on this desktop copied something: a new local item for every peer.
    func copied(_ copy: LocalCopy) {
        loop.preconditionInEventLoop()
        let configuration = host.configuration
        guard !stopped, configuration.selections.contains(copy.selection) else { return }
        guard !copy.representations.isEmpty else { return host.desktopCleared(copy.selection) }
        // A type name an application made up that is no MIME type (an X atom may hold any
        // byte) is left out here, so no peer ever sees one (protocol/sync.md, MIMEType).
        let unnamed = copy.representations.filter { !MIMEType.isValid($0.mimeType) }
        if !unnamed.isEmpty {
            logger.info("left out types that are not MIME types from a \(copy.selection) copy",
                        metadata: ["types": "\(unnamed.map { Printable.text($0.mimeType) }.joined(separator: ", "))"])
            let named = copy.representations.filter { MIMEType.isValid($0.mimeType) }
            guard !named.isEmpty else { return }
            return copied(LocalCopy(selection: copy.selection, representations: named))
        }
        guard !host.paused else { return logger.debug("sync paused: a \(copy.selection) copy stays on this machine") }
        if let current = host.engine.currentItem(copy.selection), restoreGuard.isRestore(copy, current: current) {
            // A clipboard manager put an older entry back just as a newer item arrived: the
            // newer one stays current here and everywhere, and goes back on the desktop.
            logger.notice("kept the newer \(copy.selection) item: an application put older text back on the desktop a moment after it arrived (a clipboard manager restoring its history)")
            if let view = ownership(of: current.header, held: current) { backend.own(view.header, content: view.content) }
            return
        }
        let total = copy.representations.reduce(0) { $0 + UInt64($1.bytes.count) }
        guard total <= configuration.maximumItemSize else {
            logger.warning("not syncing a \(SizeParser.format(total)) \(copy.selection) item: over --max-size \(SizeParser.format(configuration.maximumItemSize))")
            return
        }
        guard configuration.syncFiles, let list = copy.representations.first(where: { $0.mimeType == FileDelivery.uriList }),
              !copy.representations.contains(where: { $0.mimeType == FileBundle.mimeType })
        else { return take(copy.selection, copy.representations) }
        // Files named by the list go with it: read off the loop, then taken in.
        let limit = configuration.maximumItemSize - total
        let taken = NIOLoopBound({ [self] (bundle: FileBundle?) in
            take(copy.selection, copy.representations + (bundle.map { [(FileBundle.mimeType, $0.encoded())] } ?? []))
        }, eventLoop: loop)
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) { () -> Result<FileBundle?, DaemonError> in
            do { return .success(try FileBundler.bundle(uriList: list.bytes, limit: limit)) } catch { return .failure(DaemonError("\(error)")) }
        }.whenComplete { [self] result in
            switch result {
            case .success(.success(let bundle)): taken.value(bundle)
            case .success(.failure(let error)):
                logger.warning("syncing the \(copy.selection) list of files without the files: \(error)")
                taken.value(nil)
            case .failure: break  // stopping
            }
        }
    }

    private func take(_ selection: Selection, _ representations: [(mimeType: String, bytes: [UInt8])]) {
        let data = representations.count == 1 ? representations[0].bytes : representations.flatMap(\.bytes)
        host.intakeLocalCopy(selection: selection, representations: representations.map { RepresentationInfo(mimeType: $0.mimeType, size: UInt64($0.bytes.count)) },
                             data: data) { [self] item in
            guard let item else { return }
            restoreGuard.remember(item.header, held: item)
            host.desktopCopyTaken(item)
        }
    }

    // MARK: Pastes

    /// A paste of an item could not be served (its files could not be written, its bytes
    /// could not be fetched): `clipd status` says so while it is current. The application
    /// was refused at once, and the backend logged the refusal with its cause.
    func pasteFailed(_ id: ItemID, reason: String) {
        loop.preconditionInEventLoop()
        undelivered[id] = reason
        let current = Set(Selection.allCases.compactMap { host.engine.currentHeader($0)?.id })
        undelivered = undelivered.filter { current.contains($0.key) }
    }

    /// A paste of an item was served whole: what failed before is over.
    func pasteServed(_ id: ItemID) {
        loop.preconditionInEventLoop()
        undelivered[id] = nil
    }

    /// Why the newest paste of the item failed, if it did and none succeeded since.
    func undeliveredReason(_ id: ItemID) -> String? { undelivered[id] }
}
