import CX11
import CX11Support
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// Owns X selections for items that came from peers and answers their requestors:
/// TARGETS, TIMESTAMP, MULTIPLE, every type and the text aliases. Large values go by INCR;
/// so do values whose bytes are still being fetched, chunk by chunk as they arrive.
///
/// A paste of a value whose bytes are not here is answered once the first of them are (it
/// starts INCR), or refused (property None) when they cannot be had: the application gets
/// the data or a refusal, never a transfer that hangs. The fetch itself is bounded by the
/// daemon (a silent source is given up on, protocol/sync.md); should it fail after bytes
/// went out, the transfer stops without a final chunk, so the application's own timeout
/// ends it and it never receives a truncated value as if it were whole.
///
/// Confined to the backend's X thread.
final class X11SelectionOwner {
    /// How long a requestor may stay silent in the middle of a transfer.
    static let transferTimeout = 5.0
    /// How long a transfer may wait for bytes from the daemon: a safety net only, since the
    /// daemon answers every read within its fetch stall limit.
    static let readerTimeout = 120.0
    /// Chunk size of outgoing INCR transfers.
    static let incrChunk = 1 << 20
    /// Bytes read ahead of a requestor for a value still being fetched.
    static let readAhead = 4 << 20

    private let display: OpaquePointer
    private let atoms: X11Atoms
    /// The window that owns selections for peers' items.
    let window: Window
    private let timestampProperty: Atom
    private let selections: Set<Selection>
    private let mailbox: ReadMailbox
    private let log: (String) -> Void
    /// Values at least this large are sent with INCR (the server's maximum request, less
    /// room for the request header).
    let incrThreshold: Int

    private var owned: [Selection: OwnedItem] = [:]
    private var outgoing: [OutgoingTransfer] = []

    struct OwnedItem {
        let header: ItemHeader
        let content: ItemContent
        let time: Time
        /// Each target served, with the type it is written as and the representation.
        let served: [Atom: (type: Atom, representation: Int)]
    }

    /// One value being written to a requestor by INCR.
    final class OutgoingTransfer {
        let requestor: Window
        let property: Atom
        let type: Atom
        let item: ItemHeader
        let representation: Int
        /// The held item to read from, or the bytes still arriving.
        let held: ClipItem?
        let incoming: ReadAhead?
        var written: UInt64 = 0
        /// The requestor deleted the property: it waits for the next chunk.
        var requestorReady = false
        var deadline: Double
        /// The SelectionNotify still owed for a value whose first bytes are awaited: sent
        /// (starting INCR) when they come, or as a refusal when they cannot.
        var unanswered: XSelectionRequestEvent?

        init(requestor: Window, property: Atom, type: Atom, item: ItemHeader, representation: Int, held: ClipItem?, incoming: ReadAhead?, deadline: Double) {
            self.requestor = requestor
            self.property = property
            self.type = type
            self.item = item
            self.representation = representation
            self.held = held
            self.incoming = incoming
            self.deadline = deadline
        }
    }

    /// Most type names this connection creates atoms for. The X server never frees an atom,
    /// so names from peers' items could otherwise fill its table over months; past the
    /// bound only names some client already interned are offered.
    static let maximumCreatedAtoms = 256
    /// Atoms created for type names, by name.
    private var createdAtoms: [String: Atom] = [:]

    init(display: OpaquePointer, atoms: X11Atoms, selections: Set<Selection>, mailbox: ReadMailbox, log: @escaping (String) -> Void) {
        self.display = display
        self.atoms = atoms
        self.selections = selections
        self.mailbox = mailbox
        self.log = log
        window = XCreateSimpleWindow(display, XDefaultRootWindow(display), -10, -10, 1, 1, 0, 0, 0)
        XSelectInput(display, window, PropertyChangeMask)
        timestampProperty = XInternAtom(display, "CLIPD_TIMESTAMP", 0)
        let maxUnits = XExtendedMaxRequestSize(display) > 0 ? XExtendedMaxRequestSize(display) : XMaxRequestSize(display)
        incrThreshold = max(64 * 1024, Int(maxUnits) * 4 - 4096)
    }

    /// Ends every transfer (the session closes).
    func close() {
        for transfer in outgoing { transfer.incoming?.close() }
        outgoing.removeAll()
    }

    // MARK: Owning

    /// Takes the selection for an item. Returns false when the server refused.
    func own(_ header: ItemHeader, content: ItemContent) -> Bool {
        guard selections.contains(header.selection) else { return false }
        var served: [Atom: (type: Atom, representation: Int)] = [:]
        for (index, r) in header.representations.enumerated() {
            if ClipboardPolicy.isTextAlias(r.mimeType) {
                for target in atoms.textTargets where served[target] == nil {
                    served[target] = (target == atoms.text ? atoms.utf8String : target, index)
                }
            } else if let atom = atom(named: r.mimeType) {
                served[atom] = (atom, index)
            }
        }
        let time = clipd_x11_server_time(display, window, timestampProperty)
        let selectionAtom = atoms.atom(for: header.selection)
        XSetSelectionOwner(display, selectionAtom, window, time)
        guard XGetSelectionOwner(display, selectionAtom) == window else {
            log("could not take the \(header.selection) selection")
            return false
        }
        owned[header.selection] = OwnedItem(header: header, content: content, time: time, served: served)
        return true
    }

    /// The atom for a type name: an existing one, or a new one while under
    /// `maximumCreatedAtoms`; nil past the bound (the type is not offered).
    private func atom(named name: String) -> Atom? {
        if let known = createdAtoms[name] { return known }
        let existing = XInternAtom(display, name, 1)
        if existing != 0 { return existing }
        guard createdAtoms.count < Self.maximumCreatedAtoms else {
            log("not offering type \(name): this connection created \(Self.maximumCreatedAtoms) atoms already")
            return nil
        }
        let atom = XInternAtom(display, name, 0)
        createdAtoms[name] = atom
        return atom
    }

    /// Another client took the selection at `time`. A clear older than the item owned now is
    /// stale (clipd took the selection again before reading it) and changes nothing: taken
    /// for real, it would leave clipd the owner with nothing to answer, every paste refused.
    func lost(_ selection: Selection, time: Time) {
        guard let item = owned[selection], time >= item.time || time == clipd_x11_current_time() else { return }
        owned[selection] = nil
    }

    // MARK: Requests

    func selectionRequest(_ request: XSelectionRequestEvent) {
        // Obsolete requestors give no property: ICCCM says use the target's name.
        let property = request.property == clipd_x11_none_atom() ? request.target : request.property
        // A request stamped before clipd took the selection is answered too, with the item
        // now owned (ICCCM says refuse it; xclip does not check either). Toolkits stamp a
        // request with the event they handle, older than clipd's ownership when a peer's item
        // arrived in between, and a refusal reads as an empty clipboard, which history-
        // restoring clipboard managers refill with an older entry.
        var answer = Conversion.refused
        if let selection = atoms.selection(request.selection), let item = owned[selection] {
            answer = convert(target: request.target, property: property, requestor: request.requestor, item: item, request: request)
        }
        guard answer != .deferred else { return }
        notify(request, property: answer == .answered ? property : clipd_x11_none_atom())
    }

    /// Sends the SelectionNotify answering `request`: `property` holds the value, or is
    /// None for a refusal.
    private func notify(_ request: XSelectionRequestEvent, property: Atom) {
        var reply = XEvent()
        reply.xselection.type = SelectionNotify
        reply.xselection.display = request.display
        reply.xselection.requestor = request.requestor
        reply.xselection.selection = request.selection
        reply.xselection.target = request.target
        reply.xselection.time = request.time
        reply.xselection.property = property
        XSendEvent(display, request.requestor, 0, NoEventMask, &reply)
    }

    /// How a request for one target is answered.
    private enum Conversion { case answered, refused, deferred }

    /// Writes one target's value to the requestor's property, or starts its INCR transfer.
    /// With `request` (not inside MULTIPLE) a value whose bytes are not here is answered
    /// later (`deferred`), when they come or fail.
    private func convert(target: Atom, property: Atom, requestor: Window, item: OwnedItem, request: XSelectionRequestEvent? = nil) -> Conversion {
        if target == atoms.targets {
            // Format-32 properties are C longs (Atom is unsigned long).
            var list = [atoms.targets, atoms.timestamp, atoms.multiple] + item.served.keys.sorted()
            let count = Int32(list.count)
            list.withUnsafeMutableBytes { raw in
                _ = XChangeProperty(display, requestor, property, atoms.atom, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count)
            }
            return .answered
        }
        if target == atoms.timestamp {
            var value = CLong(bitPattern: UInt(item.time))
            withUnsafeMutableBytes(of: &value) { raw in
                _ = XChangeProperty(display, requestor, property, atoms.integer, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), 1)
            }
            return .answered
        }
        if target == atoms.multiple {
            return convertMultiple(property: property, requestor: requestor, item: item) ? .answered : .refused
        }
        guard let (type, served) = item.served[target] else { return .refused }
        var representation = served
        var (header, content) = (item.header, item.content)
        if target == atoms.string {
            // Latin-1, as ICCCM defines STRING; text it cannot hold is refused.
            guard let view = Latin1View.of(header, content: content, representation: representation) else { return .refused }
            (header, content, representation) = (view.header, view.content, 0)
        }
        let size = Int(header.representations[representation].size)
        if let held = content.held, size < incrThreshold {
            let bytes = held.bytes(representation: representation)
            bytes.withUnsafeBufferPointer { p in
                _ = XChangeProperty(display, requestor, property, type, 8, PropModeReplace, p.baseAddress, Int32(p.count))
            }
            return .answered
        }
        // Too large for one request, or not here yet: INCR, with chunks sent as the requestor
        // deletes the property (and as the bytes arrive). Bytes not here yet are waited for
        // before INCR is announced, unless the answer cannot wait (inside MULTIPLE).
        for old in outgoing where old.requestor == requestor && old.property == property { old.incoming?.close() }
        outgoing.removeAll { $0.requestor == requestor && $0.property == property }
        let held = content.held
        let transfer = OutgoingTransfer(requestor: requestor, property: property, type: type, item: header, representation: representation,
                                        held: held, incoming: held == nil ? ReadAhead(reader: content.makeReader(representation: representation), mailbox: mailbox, limit: Self.readAhead) : nil,
                                        deadline: monotonicSeconds() + (held == nil ? Self.readerTimeout : Self.transferTimeout))
        outgoing.append(transfer)
        let deferred = held == nil && request != nil
        if deferred { transfer.unanswered = request } else { announceINCR(transfer) }
        transfer.incoming?.requestMore()
        return deferred ? .deferred : .answered
    }

    /// Tells the requestor the value comes by INCR, with its size.
    private func announceINCR(_ transfer: OutgoingTransfer) {
        XSelectInput(display, transfer.requestor, PropertyChangeMask)
        var announced = CLong(transfer.item.representations[transfer.representation].size)
        withUnsafeMutableBytes(of: &announced) { raw in
            _ = XChangeProperty(display, transfer.requestor, transfer.property, atoms.incr, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), 1)
        }
    }

    private func convertMultiple(property: Atom, requestor: Window, item: OwnedItem) -> Bool {
        var type: Atom = 0
        var format: Int32 = 0
        var count: UInt = 0
        var remaining: UInt = 0
        var data: UnsafeMutablePointer<UInt8>?
        guard XGetWindowProperty(display, requestor, property, 0, Int.max / 4, 0, atoms.atomPair, &type, &format, &count, &remaining, &data) == Success,
              let data, format == 32
        else { return false }
        defer { XFree(data) }
        var pairs = Array(UnsafeBufferPointer(start: UnsafeRawPointer(data).assumingMemoryBound(to: CLong.self), count: Int(count)))
        var index = 0
        while index + 1 < pairs.count {
            let target = Atom(UInt(bitPattern: pairs[index])), targetProperty = Atom(UInt(bitPattern: pairs[index + 1]))
            if target == atoms.multiple || convert(target: target, property: targetProperty, requestor: requestor, item: item) != .answered {
                pairs[index + 1] = 0  // ICCCM: None marks a pair that failed
            }
            index += 2
        }
        let pairCount = Int32(pairs.count)
        pairs.withUnsafeMutableBytes { raw in
            _ = XChangeProperty(display, requestor, property, atoms.atomPair, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), pairCount)
        }
        return true
    }

    // MARK: INCR transfers

    /// A requestor deleted a property: if it is one of our transfers, it wants the next chunk.
    /// Returns false when the event belongs to no transfer.
    func propertyDeleted(window: Window, property: Atom, now: Double) -> Bool {
        guard let transfer = outgoing.first(where: { $0.requestor == window && $0.property == property }),
              transfer.unanswered == nil else { return false }
        // Now it waits for us: for the daemon's bytes when they are not here yet.
        transfer.deadline = now + (transfer.incoming.map { $0.bufferedBytes == 0 && !$0.ended } == true ? Self.readerTimeout : Self.transferTimeout)
        transfer.requestorReady = true
        writeNext(transfer)
        return true
    }

    /// A reader answered.
    func readArrived(_ token: Int, _ outcome: ReadOutcome) {
        guard let transfer = outgoing.first(where: { $0.incoming?.token == token }), let incoming = transfer.incoming else { return }
        if let reason = incoming.arrived(outcome) {
            if let request = transfer.unanswered {
                // Nothing was promised yet: the paste is refused, cleanly.
                log("refused a paste of the \(transfer.item.selection) item: \(reason)")
                notify(request, property: clipd_x11_none_atom())
            } else {
                // The requestor has part of the value and no way to hear why the rest is
                // missing: it is left to its own timeout rather than handed a truncated value.
                log("a paste of the \(transfer.item.selection) item stopped: \(reason)")
            }
            return end(transfer)
        }
        if let request = transfer.unanswered {
            transfer.unanswered = nil
            announceINCR(transfer)
            notify(request, property: transfer.property)
            transfer.deadline = monotonicSeconds() + Self.transferTimeout  // the requestor's turn
            return
        }
        if transfer.requestorReady { transfer.deadline = monotonicSeconds() + Self.readerTimeout }
        writeNext(transfer)
    }

    /// Writes the next chunk if the requestor waits for one and bytes are here; the
    /// zero-length chunk after the last ends the transfer.
    private func writeNext(_ transfer: OutgoingTransfer) {
        guard transfer.requestorReady else { return }
        let finished = transfer.held.map { $0.piece(representation: transfer.representation, at: transfer.written) == nil }
            ?? transfer.incoming!.isDrained
        if finished {
            _ = XChangeProperty(display, transfer.requestor, transfer.property, transfer.type, 8, PropModeReplace, nil, 0)
            end(transfer)
            return
        }
        let chunk: [UInt8]
        if let held = transfer.held {
            guard let piece = held.piece(representation: transfer.representation, at: transfer.written) else { return }
            chunk = Array(piece.prefix(Self.incrChunk))
        } else {
            guard let incoming = transfer.incoming, incoming.bufferedBytes > 0 else { return }
            chunk = incoming.take(upTo: Self.incrChunk)
        }
        chunk.withUnsafeBufferPointer { p in
            _ = XChangeProperty(display, transfer.requestor, transfer.property, transfer.type, 8, PropModeReplace, p.baseAddress, Int32(p.count))
        }
        transfer.written += UInt64(chunk.count)
        transfer.requestorReady = false
        transfer.deadline = monotonicSeconds() + Self.transferTimeout  // the requestor's turn
    }

    private func end(_ transfer: OutgoingTransfer) {
        transfer.incoming?.close()
        outgoing.removeAll { $0 === transfer }
        if !outgoing.contains(where: { $0.requestor == transfer.requestor }) { XSelectInput(display, transfer.requestor, NoEventMask) }
    }

    // MARK: Timeouts

    var nextDeadline: Double? { outgoing.map(\.deadline).min() }

    /// When clipd took `selection` for the item it answers requests for there, if any.
    func ownershipTime(_ selection: Selection) -> Time? { owned[selection]?.time }

    /// Drops transfers whose requestor went silent (or whose bytes never came: refused if
    /// nothing was promised yet).
    func expire(now: Double) {
        for transfer in outgoing where transfer.deadline <= now {
            if let request = transfer.unanswered { notify(request, property: clipd_x11_none_atom()) }
            end(transfer)
        }
    }
}
