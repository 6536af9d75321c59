import CWaylandClient
import CWaylandProtocols
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// Owns the compositor's selections for items from peers: one data-control source per
/// selection, offered under every type plus the text aliases, and the bytes written to
/// each reader's pipe without blocking, as they arrive when they are still being fetched.
///
/// A pipe has no way to say "failed": when the bytes cannot be had (the daemon gives up on
/// a silent source within its fetch stall limit) the pipe is closed and the log says why,
/// so the paste ends rather than hangs.
///
/// Confined to the backend's Wayland thread.
final class WaylandSourceWriter {
    /// How long a reader may leave a full pipe unread in the middle of a transfer.
    static let transferTimeout = 5.0
    /// How long a pipe may wait for bytes from the daemon: a safety net only, since the
    /// daemon answers every read within its fetch stall limit.
    static let readerTimeout = 120.0
    /// Bytes read ahead of a pipe for a value still being fetched.
    static let readAhead = 4 << 20

    private let control: DataControl
    private let mailbox: ReadMailbox
    private let log: (String) -> Void
    private var sources: [OpaquePointer: OwnedSource] = [:]
    private var owned: [Selection: OpaquePointer] = [:]
    private var writes: [Int32: OutgoingWrite] = [:]

    struct OwnedSource {
        let header: ItemHeader
        let content: ItemContent
        /// Each type offered, with the representation it serves.
        let served: [String: Int]
    }

    /// One value being written to a reader's pipe.
    final class OutgoingWrite {
        let selection: Selection
        let held: ClipItem?
        let incoming: ReadAhead?
        let representation: Int
        var written: UInt64 = 0
        var deadline: Double

        init(selection: Selection, content: ItemContent, representation: Int, mailbox: ReadMailbox, deadline: Double) {
            self.selection = selection
            held = content.held
            incoming = held == nil ? ReadAhead(reader: content.makeReader(representation: representation), mailbox: mailbox, limit: WaylandSourceWriter.readAhead) : nil
            self.representation = representation
            self.deadline = deadline
        }

        /// The bytes to write next, if any are here.
        var nextBytes: ArraySlice<UInt8>? { held.map { $0.piece(representation: representation, at: written) } ?? incoming?.next }

        /// Every byte was written.
        var isDone: Bool { held != nil ? nextBytes == nil : incoming!.isDrained }
    }

    init(control: DataControl, mailbox: ReadMailbox, log: @escaping (String) -> Void) {
        self.control = control
        self.mailbox = mailbox
        self.log = log
    }

    // MARK: Owning

    /// Sets a new source with the item's types as the selection.
    func own(_ header: ItemHeader, content: ItemContent, manager: OpaquePointer, device: OpaquePointer, userData: UnsafeMutableRawPointer) {
        var served: [String: Int] = [:]
        for (index, r) in header.representations.enumerated() {
            if ClipboardPolicy.isTextAlias(r.mimeType) {
                for alias in ClipboardPolicy.textAliases where served[alias] == nil { served[alias] = index }
            } else if served[r.mimeType] == nil {
                served[r.mimeType] = index
            }
        }
        guard let source = control.createSource(manager) else { return }
        control.listenToSource(source, userData)
        for type in served.keys.sorted() { control.offerType(source, type) }
        if header.selection == .clipboard { control.setSelection(device, source) } else { control.setPrimarySelection(device, source) }
        if let previous = owned[header.selection] {
            sources[previous] = nil
            control.destroySource(previous)
        }
        owned[header.selection] = source
        sources[source] = OwnedSource(header: header, content: content, served: served)
    }

    /// Whether an offer with `types` on `selection` is our own source coming back: the
    /// compositor cancels our source before it announces anybody else's, so a live source
    /// whose types match is ours.
    func isOurs(_ selection: Selection, types: [String]) -> Bool {
        guard let mine = owned[selection], let source = sources[mine] else { return false }
        return Set(types) == Set(source.served.keys)
    }

    func sendRequested(_ source: OpaquePointer?, mimeType: UnsafePointer<CChar>?, fd: Int32) {
        guard let source, let mimeType, let owner = sources[source], var representation = owner.served[String(cString: mimeType)] else {
            Glibc.close(fd)  // a type we never offered, or a source already replaced
            return
        }
        var (header, content) = (owner.header, owner.content)
        if String(cString: mimeType) == "STRING" {
            // Latin-1, as X11 defines STRING; text it cannot hold gets an empty, closed pipe,
            // unlogged like any type an item lacks (readers probe STRING after UTF8_STRING).
            guard let view = Latin1View.of(header, content: content, representation: representation) else {
                Glibc.close(fd)
                return
            }
            (header, content, representation) = (view.header, view.content, 0)
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let write = OutgoingWrite(selection: header.selection, content: content, representation: representation,
                                  mailbox: mailbox, deadline: monotonicSeconds() + (content.held == nil ? Self.readerTimeout : Self.transferTimeout))
        if write.held == nil || header.representations[representation].size > 64 * 1024 { _ = fcntl(fd, WaylandDisplayConnection.setPipeSize, WaylandDisplayConnection.pipeCapacity) }
        writes[fd] = write
        write.incoming?.requestMore()
        writeMore(fd)  // small held items finish here, without another trip through poll
    }

    func sourceCancelled(_ source: OpaquePointer?) {
        guard let source else { return }
        if let selection = sources[source]?.header.selection, owned[selection] == source { owned[selection] = nil }
        sources[source] = nil
        control.destroySource(source)  // transfers under way keep their content and finish
    }

    // MARK: Writing

    /// A reader answered.
    func readArrived(_ token: Int, _ outcome: ReadOutcome) {
        guard let (fd, write) = writes.first(where: { $0.value.incoming?.token == token }), let incoming = write.incoming else { return }
        if let reason = incoming.arrived(outcome) {
            // Nothing written yet: the pipe closes empty, a refusal as far as a pipe can say.
            log(write.written == 0 ? "refused a paste of the \(write.selection) item: \(reason)" : "a paste of the \(write.selection) item stopped: \(reason)")
            return finish(fd)
        }
        writeMore(fd)  // what is buffered goes out; at the end the pipe closes
    }

    func writeMore(_ fd: Int32) {
        guard let transfer = writes[fd] else { return }
        while let bytes = transfer.nextBytes {
            let count = bytes.withUnsafeBytes { raw in write(fd, raw.baseAddress!, min(raw.count, 1 << 20)) }
            if count > 0 {
                transfer.written += UInt64(count)
                transfer.incoming?.consume(count)
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                transfer.deadline = monotonicSeconds() + Self.transferTimeout  // the reader's turn
                return
            }
            finish(fd)  // the reader went away (EPIPE: SIGPIPE is ignored by the daemon)
            return
        }
        if transfer.isDone { return finish(fd) }
        transfer.deadline = monotonicSeconds() + Self.readerTimeout  // ours: the bytes are on their way
    }

    private func finish(_ fd: Int32) {
        guard let transfer = writes.removeValue(forKey: fd) else { return }
        transfer.incoming?.close()
        Glibc.close(fd)
    }

    // MARK: The loop's calls

    /// Pipes to wait on: only those with bytes ready to write.
    var descriptors: [pollfd] {
        writes.compactMap { fd, write in write.nextBytes == nil ? nil : pollfd(fd: fd, events: Int16(POLLOUT), revents: 0) }
    }

    var nextDeadline: Double? { writes.values.map(\.deadline).min() }

    func expire(now: Double) {
        for (fd, transfer) in writes where transfer.deadline <= now { finish(fd) }
    }

    func close() {
        for fd in Array(writes.keys) { finish(fd) }
        for source in sources.keys { control.destroySource(source) }
        sources.removeAll()
        owned.removeAll()
    }
}
