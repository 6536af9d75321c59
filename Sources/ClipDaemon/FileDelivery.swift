import ClipSync
import ClipboardBackends
import ClipWire
import Foundation
import NIOCore
import NIOPosix

/// Items that carry copied files (a `FileBundle` next to their `text/uri-list`), as this
/// machine's desktop sees them: the bundle itself is not offered, and the list (plus
/// `x-special/gnome-copied-files`, which file managers paste from) names copies of the files
/// in a private directory, fetched and written there when something first pastes the list.
///
/// Runs on the daemon's event loop.
final class FileDelivery {
    static let gnomeCopiedFiles = "x-special/gnome-copied-files"
    static let uriList = "text/uri-list"

    private unowned let daemon: ItemReadHost
    /// Where copies of pasted files go: `files/` in the runtime directory.
    let root: String
    private var done: [ItemID: Result<[String], DaemonError>] = [:]
    private var waiting: [ItemID: [(Result<[String], DaemonError>) -> Void]] = [:]
    /// Items whose files are on disk, oldest first: the two newest are kept.
    private var onDisk: [ItemID] = []

    /// `runtimeDirectory`'s `files/` holds the copies.
    init(daemon: ItemReadHost, runtimeDirectory: String) {
        self.daemon = daemon
        root = runtimeDirectory + "/files"
    }

    /// Whether the item carries files.
    static func carriesFiles(_ header: ItemHeader) -> Bool {
        header.representations.contains { $0.mimeType == FileBundle.mimeType } && header.representations.contains { $0.mimeType == uriList }
    }

    /// What the desktop sees of an item that carries files, and where each of its types
    /// comes from.
    func view(of header: ItemHeader, held: ClipItem?) -> (ItemHeader, ItemContent) {
        var representations: [RepresentationInfo] = []
        var sources: [FileItemContent.Source] = []
        // The peer's own file-manager list is never passed on: the one shown is made here.
        for (index, r) in header.representations.enumerated() where r.mimeType != FileBundle.mimeType && r.mimeType != Self.gnomeCopiedFiles {
            if r.mimeType == Self.uriList {
                representations.append(r)
                sources.append(.rewritten(gnome: false))
                representations.append(RepresentationInfo(mimeType: Self.gnomeCopiedFiles, size: r.size + 5))
                sources.append(.rewritten(gnome: true))
            } else {
                representations.append(r)
                sources.append(.original(index))
            }
        }
        let desktop = ItemHeader(selection: header.selection, id: header.id, clock: header.clock, representations: representations)
        return (desktop, FileItemContent(daemon: daemon, header: header, held: held, sources: sources))
    }

    /// The URIs of the item's list, those of its files naming the copies here; the files
    /// are fetched and written the first time.
    func uris(of header: ItemHeader, held: ClipItem?, then finish: @escaping (Result<[String], DaemonError>) -> Void) {
        if let known = done[header.id] { return finish(known) }
        if waiting[header.id] != nil { return waiting[header.id]!.append(finish) }
        waiting[header.id] = [finish]
        let list = header.representations.firstIndex { $0.mimeType == Self.uriList }!
        let bundleIndex = header.representations.firstIndex { $0.mimeType == FileBundle.mimeType }!
        let directory = root + "/" + "\(header.id.origin.short)-\(header.id.counter)"
        let filesRoot = root
        WholeRead.start(daemon: daemon, header: header, held: held, representation: list) { [self] listBytes in
            WholeRead.start(daemon: daemon, header: header, held: held, representation: bundleIndex) { [self] bundleBytes in
                guard case .success(let listBytes) = listBytes, case .success(let bundleBytes) = bundleBytes else {
                    let reason = [listBytes, bundleBytes].compactMap { if case .failure(let e) = $0 { e.description } else { nil } }.first ?? "unknown"
                    return settle(header.id, .failure(DaemonError(reason)))
                }
                let settleOnLoop = NIOLoopBound({ [self] (r: Result<[String], DaemonError>) in settle(header.id, r) }, eventLoop: daemon.loop)
                NIOThreadPool.singleton.runIfActive(eventLoop: daemon.loop) { () -> Result<[String], DaemonError> in
                    do {
                        try PrivateFiles.ensureDirectory(filesRoot)
                        let bundle = try FileBundle.decode(bundleBytes)
                        try FileBundler.extract(bundle, into: directory)
                        return .success(FileBundler.rewrite(uriList: listBytes, bundle: bundle, directory: directory))
                    } catch {
                        // Nothing half-written stays behind (it used to, until a restart).
                        try? FileManager.default.removeItem(atPath: directory)
                        return .failure(DaemonError("cannot write the copied files: \(error)"))
                    }
                }.whenComplete { result in
                    switch result {
                    case .success(let outcome): settleOnLoop.value(outcome)
                    case .failure: settleOnLoop.value(.failure(DaemonError("the daemon is stopping")))
                    }
                }
            }
        }
    }

    /// Keeps a delivery's outcome for the pastes that follow: a success (its files are on
    /// disk, the two newest kept), never a failure, so a paste tried again (its source back,
    /// say) tries again, and failures cannot pile up.
    private func settle(_ id: ItemID, _ result: Result<[String], DaemonError>) {
        switch result {
        case .success:
            daemon.pasteServed(id)
            done[id] = result
            onDisk.append(id)
            while onDisk.count > 2 {
                let old = onDisk.removeFirst()
                done[old] = nil
                try? FileManager.default.removeItem(atPath: root + "/\(old.origin.short)-\(old.counter)")
            }
        case .failure(let error):
            daemon.pasteFailed(id, reason: error.description)  // the paste's refusal logs it
        }
        for finish in waiting.removeValue(forKey: id) ?? [] { finish(result) }
    }

    /// Copies of earlier runs are gone with them.
    func clear() { try? FileManager.default.removeItem(atPath: root) }
}

/// The content of an item that carries files, as the desktop sees it.
struct FileItemContent: ItemContent {
    enum Source: Sendable {
        /// A representation of the item as it is.
        case original(Int)
        /// Its list of URIs naming the copies here, as `text/uri-list` or as
        /// `x-special/gnome-copied-files`.
        case rewritten(gnome: Bool)
    }

    let daemon: ItemReadHost
    let header: ItemHeader
    let heldItem: ClipItem?
    let sources: [Source]

    init(daemon: ItemReadHost, header: ItemHeader, held: ClipItem?, sources: [Source]) {
        self.daemon = daemon
        self.header = header
        heldItem = held
        self.sources = sources
    }

    /// Never whole: the lists are made when pasted.
    var held: ClipItem? { nil }

    func makeReader(representation: Int) -> ItemReader {
        switch sources[representation] {
        case .original(let index):
            if let heldItem { return HeldContent(heldItem).makeReader(representation: index) }
            return EngineItemReader(daemon: daemon, item: header.id, representation: index)
        case .rewritten(let gnome):
            return DerivedBytesReader(daemon: daemon) { [daemon, header, heldItem] finish in
                daemon.files.uris(of: header, held: heldItem) { result in
                    finish(result.map { uris in Array((gnome ? "copy\n" + uris.joined(separator: "\n") : uris.map { $0 + "\r\n" }.joined()).utf8) })
                }
            }
        }
    }
}

/// Serves bytes made from an item when first read (a list of URIs naming the copies of
/// its files, a peer's list without its `file:` URIs), then from memory for the rest of the
/// transfer. A failure is kept too: every later read of the transfer gets it.
///
/// Sound as `@unchecked Sendable`: `bytes` and `failure` are only touched on the daemon's
/// loop, where every entry point hops first; `produce` runs there and answers there.
final class DerivedBytesReader: ItemReader, @unchecked Sendable {
    typealias Producer = (@escaping (Result<[UInt8], DaemonError>) -> Void) -> Void
    private let daemon: ItemReadHost
    private let produce: Producer
    private var bytes: [UInt8]?
    private var failure: String?

    init(daemon: ItemReadHost, produce: @escaping Producer) {
        self.daemon = daemon
        self.produce = produce
    }

    func read(from offset: UInt64, deliver: @escaping @Sendable (ReadOutcome) -> Void) {
        daemon.loop.execute { [self] in
            if let failure { return deliver(.failed(failure)) }
            if let bytes { return deliver(offset < UInt64(bytes.count) ? .bytes(bytes[Int(offset)...]) : .end) }
            produce { [self] result in
                switch result {
                case .success(let made): bytes = made
                case .failure(let reason): failure = reason.description
                }
                read(from: offset, deliver: deliver)
            }
        }
    }

    func close() {}
}

/// Reads a whole representation through the engine (or a held item) on the loop and hands
/// it over in one piece.
final class WholeRead {
    private let reader: ItemReader
    private var bytes: [UInt8] = []
    private let finish: (Result<[UInt8], DaemonError>) -> Void

    private init(reader: ItemReader, finish: @escaping (Result<[UInt8], DaemonError>) -> Void) {
        self.reader = reader
        self.finish = finish
    }

    static func start(daemon: ItemReadHost, header: ItemHeader, held: ClipItem?, representation: Int, finish: @escaping (Result<[UInt8], DaemonError>) -> Void) {
        if let held { return finish(.success(Array(held.bytes(representation: representation)))) }
        let read = WholeRead(reader: EngineItemReader(daemon: daemon, item: header.id, representation: representation), finish: finish)
        read.next(loop: daemon.loop)
    }

    private func next(loop: EventLoop) {
        let this = NIOLoopBound(self, eventLoop: loop)
        reader.read(from: UInt64(bytes.count)) { outcome in
            // EngineItemReader answers on the loop.
            let read = this.value
            switch outcome {
            case .bytes(let piece):
                read.bytes.append(contentsOf: piece)
                loop.execute { this.value.next(loop: loop) }  // a hop per piece: no deep recursion
            case .end:
                read.reader.close()
                read.finish(.success(read.bytes))
            case .failed(let reason):
                read.reader.close()
                read.finish(.failure(DaemonError(reason)))
            case .pending:
                loop.execute { this.value.next(loop: loop) }
            }
        }
    }
}
