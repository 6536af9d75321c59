import CX11
import CX11Support
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// One connection to an X server: watches the selections through XFixes, reads new owners'
/// items (TARGETS, then each wanted target, INCR when the owner uses it), and owns items
/// that came from peers (TARGETS, TIMESTAMP, MULTIPLE, every type, INCR when large).
///
/// Confined to the backend's X thread; nothing here is thread-safe.
final class X11Session: DesktopSession {
    /// How long an owner or a requestor may stay silent in the middle of a transfer.
    static let transferTimeout = 5.0
    /// Chunk size of outgoing INCR transfers.
    static let incrChunk = 1 << 20

    let display: OpaquePointer
    /// Owns selections for peers' items and answers their requests.
    let window: Window
    /// One requestor window per selection for reading owners' items. An INCR owner watches
    /// every property deletion on its requestor's window; with one shared window, deleting a
    /// CLIPBOARD chunk made the PRIMARY owner send its next chunk over an unread one.
    private let readers: [Selection: Window]
    let atoms: X11Atoms
    private let fixesEventBase: Int32
    private let timestampProperty: Atom
    private let selections: Set<Selection>
    private let policy: ClipboardPolicy
    private let onCopy: (LocalCopy) -> Void
    private let log: (String) -> Void
    /// Items at least this large are sent with INCR (the server's maximum request, less room
    /// for the request header).
    let incrThreshold: Int

    private var reads: [Selection: ReadJob] = [:]
    private var owned: [Selection: OwnedItem] = [:]
    private var outgoing: [OutgoingTransfer] = []

    struct ReadJob {
        let selection: Selection
        let time: Time
        var wanted: [(target: Atom, mimeType: String)] = []
        var index = -1  // -1: waiting for TARGETS
        var collected: [(mimeType: String, bytes: [UInt8])] = []
        var incrBuffer: [UInt8]?
        var deadline: Double
        var checkingHint = false
    }

    struct OwnedItem {
        let item: ClipItem
        let time: Time
        let served: [Atom: (type: Atom, bytes: ArraySlice<UInt8>)]
    }

    struct OutgoingTransfer {
        let requestor: Window
        let property: Atom
        let type: Atom
        let bytes: ArraySlice<UInt8>
        var offset: Int
        var deadline: Double
    }

    init?(displayName: String?, selections: Set<Selection>, policy: ClipboardPolicy,
          onCopy: @escaping (LocalCopy) -> Void, log: @escaping (String) -> Void) {
        guard let display = displayName.map({ XOpenDisplay($0) }) ?? XOpenDisplay(nil) else { return nil }
        clipd_x11_install_error_handler()
        clipd_x11_install_io_error_handler(display)
        var eventBase: Int32 = 0, errorBase: Int32 = 0
        guard XFixesQueryExtension(display, &eventBase, &errorBase) != 0 else {
            XCloseDisplay(display)
            log("the X server has no XFixes extension: cannot watch the clipboard")
            return nil
        }
        self.display = display
        self.fixesEventBase = eventBase
        self.atoms = X11Atoms(display: display)
        self.timestampProperty = XInternAtom(display, "CLIPD_TIMESTAMP", 0)
        self.selections = selections
        self.policy = policy
        self.onCopy = onCopy
        self.log = log
        let root = XDefaultRootWindow(display)
        window = XCreateSimpleWindow(display, root, -10, -10, 1, 1, 0, 0, 0)
        XSelectInput(display, window, PropertyChangeMask)
        var readers: [Selection: Window] = [:]
        for selection in Selection.allCases {
            let reader = XCreateSimpleWindow(display, root, -10, -10, 1, 1, 0, 0, 0)
            XSelectInput(display, reader, PropertyChangeMask)
            readers[selection] = reader
        }
        self.readers = readers
        let maxUnits = XExtendedMaxRequestSize(display) > 0 ? XExtendedMaxRequestSize(display) : XMaxRequestSize(display)
        incrThreshold = max(64 * 1024, Int(maxUnits) * 4 - 4096)
        let mask = UInt(XFixesSetSelectionOwnerNotifyMask | XFixesSelectionWindowDestroyNotifyMask | XFixesSelectionClientCloseNotifyMask)
        for selection in selections { XFixesSelectSelectionInput(display, root, atoms.atom(for: selection), mask) }
        XFlush(display)
    }

    func close() {
        if clipd_x11_connection_lost() == 0 {
            XDestroyWindow(display, window)
            for reader in readers.values { XDestroyWindow(display, reader) }
        }
        XCloseDisplay(display)
    }

    // MARK: The loop's calls

    var isLost: Bool { clipd_x11_connection_lost() != 0 }

    func prepareToSleep(now: Double) -> (descriptors: [pollfd], immediate: Bool) {
        expire(now: now)
        guard !isLost else { return ([], true) }
        XFlush(display)
        // Xlib may already hold events read during an earlier round trip: never sleep then.
        let queued = !isLost && XPending(display) > 0
        return ([pollfd(fd: XConnectionNumber(display), events: Int16(POLLIN), revents: 0)], queued)
    }

    func handle(ready: ArraySlice<pollfd>, now: Double) {
        // Xlib gave up on a lost connection (its fd may be closed, even reused): touch nothing.
        while !isLost && XPending(display) > 0 {
            var event = XEvent()
            XNextEvent(display, &event)
            handle(&event, now: now)
        }
        if !isLost { XFlush(display) }
    }

    // MARK: Events

    func handle(_ event: inout XEvent, now: Double) {
        let type = event.type
        if type == clipd_xfixes_selection_notify(fixesEventBase) {
            ownerChanged(event: &event, now: now)
            return
        }
        switch type {
        case SelectionNotify: selectionNotify(event.xselection, now: now)
        case PropertyNotify: propertyNotify(event.xproperty, now: now)
        case SelectionRequest: selectionRequest(event.xselectionrequest)
        case SelectionClear:
            if let selection = atoms.selection(event.xselectionclear.selection), event.xselectionclear.window == window {
                owned[selection] = nil
            }
        default: break
        }
    }

    private func ownerChanged(event: inout XEvent, now: Double) {
        let owner = withUnsafePointer(to: &event) { clipd_xfixes_event_owner($0) }
        let selectionAtom = withUnsafePointer(to: &event) { clipd_xfixes_event_selection($0) }
        let time = withUnsafePointer(to: &event) { clipd_xfixes_event_timestamp($0) }
        guard let selection = atoms.selection(selectionAtom), selections.contains(selection) else { return }
        // Our own ownership coming back is an echo; no owner means the selection was cleared.
        guard owner != window, owner != clipd_x11_none_window() else { return }
        reads[selection] = ReadJob(selection: selection, time: time, deadline: now + Self.transferTimeout)
        XConvertSelection(display, selectionAtom, atoms.targets, atoms.property(for: selection), readers[selection]!, time)
    }

    private func selectionNotify(_ event: XSelectionEvent, now: Double) {
        guard let selection = atoms.selection(event.selection), event.requestor == readers[selection], var job = reads[selection] else { return }
        let expected = job.checkingHint ? atoms.passwordHint : (job.index < 0 ? atoms.targets : job.wanted[job.index].target)
        guard event.target == expected else { return }
        job.deadline = now + Self.transferTimeout
        guard event.property != clipd_x11_none_atom() else {
            reads[selection] = job
            advance(selection)  // the owner refused this target
            return
        }
        guard let (type, bytes) = readProperty(atoms.property(for: selection), on: readers[selection]!) else {
            reads[selection] = job
            advance(selection)
            return
        }
        if type == atoms.incr {
            job.incrBuffer = []  // the owner now sends chunks as PropertyNotify(NewValue)
            reads[selection] = job
            return
        }
        reads[selection] = job
        received(selection, type: type, bytes: bytes)
    }

    private func propertyNotify(_ event: XPropertyEvent, now: Double) {
        if let selection = atoms.selection(forProperty: event.atom), event.window == readers[selection] {
            guard event.state == PropertyNewValue, let job = reads[selection], job.incrBuffer != nil else { return }
            // A stale notification without a property is skipped, not taken as the end.
            guard let (type, bytes) = readProperty(event.atom, on: event.window) else { return }
            var updated = job
            updated.deadline = now + Self.transferTimeout
            if bytes.isEmpty {
                let whole = updated.incrBuffer ?? []
                updated.incrBuffer = nil
                reads[selection] = updated
                received(selection, type: type, bytes: whole)
            } else {
                updated.incrBuffer! += bytes
                reads[selection] = updated
            }
            return
        }
        guard event.state == PropertyDelete,
              let index = outgoing.firstIndex(where: { $0.requestor == event.window && $0.property == event.atom })
        else { return }
        var transfer = outgoing[index]
        transfer.deadline = now + Self.transferTimeout
        let end = min(transfer.offset + Self.incrChunk, transfer.bytes.count)
        let chunk = transfer.bytes[(transfer.bytes.startIndex + transfer.offset)..<(transfer.bytes.startIndex + end)]
        chunk.withUnsafeBufferPointer { p in
            _ = XChangeProperty(display, transfer.requestor, transfer.property, transfer.type, 8, PropModeReplace, p.baseAddress, Int32(p.count))
        }
        if chunk.isEmpty {
            outgoing.remove(at: index)  // the zero-length chunk ends the transfer
            XSelectInput(display, transfer.requestor, NoEventMask)
        } else {
            transfer.offset = end
            outgoing[index] = transfer
        }
    }

    /// Reads and deletes one of our conversion properties; nil when it does not exist.
    private func readProperty(_ property: Atom, on reader: Window) -> (type: Atom, bytes: [UInt8])? {
        var type: Atom = 0
        var format: Int32 = 0
        var count: UInt = 0
        var remaining: UInt = 0
        var data: UnsafeMutablePointer<UInt8>?
        let status = XGetWindowProperty(display, reader, property, 0, Int.max / 4, 1,
                                        clipd_x11_none_atom(), &type, &format, &count, &remaining, &data)
        defer { if let data { XFree(data) } }
        guard status == Success, type != clipd_x11_none_atom() else { return nil }
        let unit = format == 32 ? MemoryLayout<CLong>.size : Int(format) / 8
        let length = Int(count) * unit
        guard let data, length > 0 else { return (type, []) }
        return (type, Array(UnsafeBufferPointer(start: data, count: length)))
    }

    // MARK: Reading an owner's item

    private func received(_ selection: Selection, type: Atom, bytes: [UInt8]) {
        guard var job = reads[selection] else { return }
        if job.checkingHint {
            job.checkingHint = false
            if policy.keepsLocal(hint: bytes) {
                reads[selection] = nil
                log("skipped a \(selection) item marked secret by a password manager (sync_secrets is off)")
                return
            }
            job.index = -1
            reads[selection] = job
            advance(selection)
            return
        }
        if job.index < 0 {
            let targets = bytes.withUnsafeBytes { raw in Array(raw.bindMemory(to: UInt.self)) }
            let named = targets.compactMap { target in atomName(target).map { (target: target, name: $0) } }
            job.wanted = policy.choose(offered: named.map(\.name)).compactMap { choice in
                named.first { $0.name == choice.offered }.map { (target: $0.target, mimeType: choice.storedAs) }
            }
            if targets.contains(atoms.passwordHint) {
                job.checkingHint = true
                reads[selection] = job
                XConvertSelection(display, atoms.atom(for: selection), atoms.passwordHint, atoms.property(for: selection), readers[selection]!, job.time)
                return
            }
            reads[selection] = job
            advance(selection)
            return
        }
        let (target, mimeType) = job.wanted[job.index]
        if let value = accept(requested: target, returnedType: type, bytes: bytes) {
            if !job.collected.contains(where: { $0.mimeType == mimeType }) { job.collected.append((mimeType, value)) }
        }
        reads[selection] = job
        advance(selection)
    }

    /// Requests the next wanted target, or delivers the item when none is left.
    private func advance(_ selection: Selection) {
        guard var job = reads[selection] else { return }
        job.index += 1
        if job.index < job.wanted.count {
            reads[selection] = job
            XConvertSelection(display, atoms.atom(for: selection), job.wanted[job.index].target, atoms.property(for: selection), readers[selection]!, job.time)
            return
        }
        reads[selection] = nil
        guard !job.collected.isEmpty else { return }
        onCopy(LocalCopy(selection: selection, representations: job.collected))
    }

    /// The bytes to keep for a requested target, or nil when the owner answered with
    /// something else (some owners answer every target with their one type).
    private func accept(requested: Atom, returnedType: Atom, bytes: [UInt8]) -> [UInt8]? {
        guard atoms.textTargets.contains(requested) else { return returnedType == requested ? bytes : nil }
        guard atoms.textTargets.contains(returnedType), let name = atoms.knownName(returnedType) else { return nil }
        return ClipboardPolicy.utf8Text(bytes, readAs: name)
    }

    private func atomName(_ atom: Atom) -> String? {
        if let known = atoms.knownName(atom) { return known }
        guard let name = XGetAtomName(display, atom) else { return nil }
        defer { XFree(name) }
        return String(cString: name)
    }

    // MARK: Owning items from peers

    func own(_ item: ClipItem) {
        guard selections.contains(item.selection) else { return }
        var served: [Atom: (type: Atom, bytes: ArraySlice<UInt8>)] = [:]
        for (mimeType, bytes) in item.representations {
            if ClipboardPolicy.isTextAlias(mimeType) {
                for target in atoms.textTargets where served[target] == nil {
                    served[target] = (target == atoms.text ? atoms.utf8String : target, bytes)
                }
            } else {
                served[XInternAtom(display, mimeType, 0)] = (XInternAtom(display, mimeType, 0), bytes)
            }
        }
        let time = clipd_x11_server_time(display, window, timestampProperty)
        let selectionAtom = atoms.atom(for: item.selection)
        XSetSelectionOwner(display, selectionAtom, window, time)
        guard XGetSelectionOwner(display, selectionAtom) == window else {
            log("could not take the \(item.selection) selection")
            return
        }
        owned[item.selection] = OwnedItem(item: item, time: time, served: served)
        reads[item.selection] = nil  // whatever was being read is older than this item
    }

    private func selectionRequest(_ request: XSelectionRequestEvent) {
        var reply = XEvent()
        reply.xselection.type = SelectionNotify
        reply.xselection.display = request.display
        reply.xselection.requestor = request.requestor
        reply.xselection.selection = request.selection
        reply.xselection.target = request.target
        reply.xselection.time = request.time
        // Obsolete requestors give no property: ICCCM says use the target's name.
        let property = request.property == clipd_x11_none_atom() ? request.target : request.property
        var answered = false
        if let selection = atoms.selection(request.selection), let item = owned[selection],
           request.time == clipd_x11_current_time() || request.time >= item.time {
            answered = convert(target: request.target, property: property, requestor: request.requestor, item: item)
        }
        reply.xselection.property = answered ? property : clipd_x11_none_atom()
        XSendEvent(display, request.requestor, 0, NoEventMask, &reply)
    }

    /// Writes one target's value to the requestor's property. False when the target is not
    /// served.
    private func convert(target: Atom, property: Atom, requestor: Window, item: OwnedItem) -> Bool {
        if target == atoms.targets {
            // Format-32 properties are C longs (Atom is unsigned long).
            var list = [atoms.targets, atoms.timestamp, atoms.multiple] + item.served.keys.sorted()
            let count = Int32(list.count)
            list.withUnsafeMutableBytes { raw in
                _ = XChangeProperty(display, requestor, property, atoms.atom, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count)
            }
            return true
        }
        if target == atoms.timestamp {
            var value = CLong(bitPattern: UInt(item.time))
            withUnsafeMutableBytes(of: &value) { raw in
                _ = XChangeProperty(display, requestor, property, atoms.integer, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), 1)
            }
            return true
        }
        if target == atoms.multiple {
            return convertMultiple(property: property, requestor: requestor, item: item)
        }
        guard let (type, bytes) = item.served[target] else { return false }
        if bytes.count >= incrThreshold {
            // Too large for one request: announce INCR, then send chunks as the requestor
            // deletes the property.
            XSelectInput(display, requestor, PropertyChangeMask)
            var size = CLong(bytes.count)
            withUnsafeMutableBytes(of: &size) { raw in
                _ = XChangeProperty(display, requestor, property, atoms.incr, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), 1)
            }
            outgoing.removeAll { $0.requestor == requestor && $0.property == property }
            outgoing.append(OutgoingTransfer(requestor: requestor, property: property, type: type, bytes: bytes, offset: 0,
                                             deadline: monotonicSeconds() + Self.transferTimeout))
            return true
        }
        bytes.withUnsafeBufferPointer { p in
            _ = XChangeProperty(display, requestor, property, type, 8, PropModeReplace, p.baseAddress, Int32(p.count))
        }
        return true
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
            if target == atoms.multiple || !convert(target: target, property: targetProperty, requestor: requestor, item: item) {
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

    // MARK: Timeouts

    /// The next time something may expire.
    var nextDeadline: Double? {
        (reads.values.map(\.deadline) + outgoing.map(\.deadline)).min()
    }

    /// Drops reads whose owner and transfers whose requestor went silent.
    private func expire(now: Double) {
        for (selection, job) in reads where job.deadline <= now {
            reads[selection] = nil
            log("the \(selection) owner stopped answering; its item was not read")
        }
        outgoing.removeAll { $0.deadline <= now }
        _ = clipd_x11_take_error()  // errors from requestors that vanished
    }
}
