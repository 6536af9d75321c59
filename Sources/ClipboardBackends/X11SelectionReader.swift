import CX11
import CX11Support
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// Reads the item of a new selection owner: TARGETS, the password hint when offered, then
/// each wanted target in turn (INCR when the owner uses it), and hands the item over.
///
/// Confined to the backend's X thread.
final class X11SelectionReader {
    /// How long an owner may stay silent in the middle of a transfer.
    static let transferTimeout = 5.0

    private let display: OpaquePointer
    private let atoms: X11Atoms
    /// One requestor window per selection. An INCR owner watches every property deletion on
    /// its requestor's window; with one shared window, deleting a CLIPBOARD chunk made the
    /// PRIMARY owner send its next chunk over an unread one.
    private let windows: [Selection: Window]
    private let policy: ClipboardPolicy
    private let onCopy: (LocalCopy) -> Void
    private let log: (String) -> Void
    private var reads: [Selection: ReadJob] = [:]

    struct ReadJob {
        let selection: Selection
        let time: Time
        var wanted: [(target: Atom, mimeType: String)] = []
        var index = -1  // -1: waiting for TARGETS
        var collected: [(mimeType: String, bytes: [UInt8])] = []
        var incrBuffer: [UInt8]?
        var deadline: Double
        var checkingHint = false
        /// The password hint's value, when the owner offered one.
        var hint: [UInt8]?
    }

    init(display: OpaquePointer, atoms: X11Atoms, policy: ClipboardPolicy, onCopy: @escaping (LocalCopy) -> Void, log: @escaping (String) -> Void) {
        self.display = display
        self.atoms = atoms
        self.policy = policy
        self.onCopy = onCopy
        self.log = log
        var windows: [Selection: Window] = [:]
        for selection in Selection.allCases {
            let window = XCreateSimpleWindow(display, XDefaultRootWindow(display), -10, -10, 1, 1, 0, 0, 0)
            XSelectInput(display, window, PropertyChangeMask)
            windows[selection] = window
        }
        self.windows = windows
    }

    var allWindows: [Window] { Array(windows.values) }

    /// Starts reading the item a new owner holds.
    func start(_ selection: Selection, time: Time, now: Double) {
        reads[selection] = ReadJob(selection: selection, time: time, deadline: now + Self.transferTimeout)
        XConvertSelection(display, atoms.atom(for: selection), atoms.targets, atoms.property(for: selection), windows[selection]!, time)
    }

    /// An item from a peer now owns the selection: whatever was being read is older.
    func cancel(_ selection: Selection) { reads[selection] = nil }

    func selectionNotify(_ event: XSelectionEvent, now: Double) {
        guard let selection = atoms.selection(event.selection), event.requestor == windows[selection], var job = reads[selection] else { return }
        let expected = job.checkingHint ? atoms.passwordHint : (job.index < 0 ? atoms.targets : job.wanted[job.index].target)
        guard event.target == expected else { return }
        job.deadline = now + Self.transferTimeout
        guard event.property != clipd_x11_none_atom() else {
            reads[selection] = job
            advance(selection)  // the owner refused this target
            return
        }
        guard let (type, bytes) = readProperty(atoms.property(for: selection), on: windows[selection]!) else {
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

    /// A property changed on one of our requestor windows: the next INCR chunk. Returns
    /// false when the event is not for a read.
    func propertyNotify(_ event: XPropertyEvent, now: Double) -> Bool {
        guard let selection = atoms.selection(forProperty: event.atom), event.window == windows[selection] else { return false }
        guard event.state == PropertyNewValue, let job = reads[selection], job.incrBuffer != nil else { return true }
        // A stale notification without a property is skipped, not taken as the end.
        guard let (type, bytes) = readProperty(event.atom, on: event.window) else { return true }
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
        return true
    }

    /// Reads and deletes one of our conversion properties; nil when it does not exist.
    private func readProperty(_ property: Atom, on window: Window) -> (type: Atom, bytes: [UInt8])? {
        var type: Atom = 0
        var format: Int32 = 0
        var count: UInt = 0
        var remaining: UInt = 0
        var data: UnsafeMutablePointer<UInt8>?
        let status = XGetWindowProperty(display, window, property, 0, Int.max / 4, 1,
                                        clipd_x11_none_atom(), &type, &format, &count, &remaining, &data)
        defer { if let data { XFree(data) } }
        guard status == Success, type != clipd_x11_none_atom() else { return nil }
        let unit = format == 32 ? MemoryLayout<CLong>.size : Int(format) / 8
        let length = Int(count) * unit
        guard let data, length > 0 else { return (type, []) }
        return (type, Array(UnsafeBufferPointer(start: data, count: length)))
    }

    private func received(_ selection: Selection, type: Atom, bytes: [UInt8]) {
        guard var job = reads[selection] else { return }
        if job.checkingHint {
            job.checkingHint = false
            job.hint = bytes
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
                XConvertSelection(display, atoms.atom(for: selection), atoms.passwordHint, atoms.property(for: selection), windows[selection]!, job.time)
                return
            }
            reads[selection] = job
            advance(selection)
            return
        }
        let (target, mimeType) = job.wanted[job.index]
        if let value = accept(requested: target, storedAs: mimeType, returnedType: type, bytes: bytes) {
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
            XConvertSelection(display, atoms.atom(for: selection), job.wanted[job.index].target, atoms.property(for: selection), windows[selection]!, job.time)
            return
        }
        reads[selection] = nil
        guard !job.collected.isEmpty else { return }
        onCopy(LocalCopy(selection: selection, representations: ClipboardPolicy.withHint(job.collected, hint: job.hint)))
    }

    /// The bytes to keep for a requested target, or nil when the owner answered with
    /// something else (some owners answer every target with their one type).
    private func accept(requested: Atom, storedAs mimeType: String, returnedType: Atom, bytes: [UInt8]) -> [UInt8]? {
        guard atoms.textTargets.contains(requested) else {
            return returnedType == requested ? ClipboardPolicy.storedValue(bytes, readAs: mimeType, storedAs: mimeType) : nil
        }
        guard atoms.textTargets.contains(returnedType), let name = atoms.knownName(returnedType) else { return nil }
        return ClipboardPolicy.storedValue(bytes, readAs: name, storedAs: mimeType)
    }

    private func atomName(_ atom: Atom) -> String? {
        if let known = atoms.knownName(atom) { return known }
        guard let name = XGetAtomName(display, atom) else { return nil }
        defer { XFree(name) }
        return String(cString: name)
    }

    // MARK: Timeouts

    var nextDeadline: Double? { reads.values.map(\.deadline).min() }

    /// Drops reads whose owner went silent.
    func expire(now: Double) {
        for (selection, job) in reads where job.deadline <= now {
            reads[selection] = nil
            log("the \(selection) owner stopped answering; its item was not read")
        }
    }
}
