import CX11
import CX11Support
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// One connection to an X server: watches the selections through XFixes and dispatches
/// events to the reader of new owners' items (`X11SelectionReader`) and to the owner of
/// peers' items (`X11SelectionOwner`).
///
/// Confined to the backend's X thread; nothing here is thread-safe.
final class X11DisplayConnection: DisplayConnection {
    let display: OpaquePointer
    let atoms: X11Atoms
    private let fixesEventBase: Int32
    private let selections: Set<Selection>
    private let reader: X11SelectionReader
    let owner: X11SelectionOwner
    private let onCopy: (LocalCopy) -> Void

    init?(displayName: String?, selections: Set<Selection>, policy: ClipboardPolicy, mailbox: ReadMailbox,
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
        let atoms = X11Atoms(display: display)
        self.atoms = atoms
        self.selections = selections
        self.onCopy = onCopy
        owner = X11SelectionOwner(display: display, atoms: atoms, selections: selections, mailbox: mailbox, log: log)
        reader = X11SelectionReader(display: display, atoms: atoms, policy: policy, onCopy: onCopy, log: log)
        let root = XDefaultRootWindow(display)
        let mask = UInt(XFixesSetSelectionOwnerNotifyMask | XFixesSelectionWindowDestroyNotifyMask | XFixesSelectionClientCloseNotifyMask)
        for selection in selections { XFixesSelectSelectionInput(display, root, atoms.atom(for: selection), mask) }
        XFlush(display)
    }

    func close() {
        owner.close()
        if clipd_x11_connection_lost() == 0 {
            XDestroyWindow(display, owner.window)
            for window in reader.allWindows { XDestroyWindow(display, window) }
        }
        XCloseDisplay(display)
    }

    // MARK: The loop's calls

    var isLost: Bool { clipd_x11_connection_lost() != 0 }

    func prepareToSleep(now: Double) -> (descriptors: [pollfd], immediate: Bool) {
        reader.expire(now: now)
        owner.expire(now: now)
        _ = clipd_x11_take_error()  // errors from requestors that vanished
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

    var nextDeadline: Double? { [reader.nextDeadline, owner.nextDeadline].compactMap { $0 }.min() }

    func own(_ header: ItemHeader, content: ItemContent) {
        if owner.own(header, content: content) { reader.cancel(header.selection) }
    }

    func readArrived(_ token: Int, _ outcome: ReadOutcome) {
        guard !isLost else { return }
        owner.readArrived(token, outcome)
        XFlush(display)
    }

    // MARK: Events

    func handle(_ event: inout XEvent, now: Double) {
        let type = event.type
        if type == clipd_xfixes_selection_notify(fixesEventBase) {
            ownerChanged(event: &event, now: now)
            return
        }
        switch type {
        case SelectionNotify: reader.selectionNotify(event.xselection, now: now)
        case PropertyNotify:
            let property = event.xproperty
            if reader.propertyNotify(property, now: now) { return }
            if property.state == PropertyDelete { _ = owner.propertyDeleted(window: property.window, property: property.atom, now: now) }
        case SelectionRequest: owner.selectionRequest(event.xselectionrequest)
        case SelectionClear:
            if let selection = atoms.selection(event.xselectionclear.selection), event.xselectionclear.window == owner.window {
                owner.lost(selection, time: event.xselectionclear.time)
            }
        default: break
        }
    }

    private func ownerChanged(event: inout XEvent, now: Double) {
        let newOwner = withUnsafePointer(to: &event) { clipd_xfixes_event_owner($0) }
        let selectionAtom = withUnsafePointer(to: &event) { clipd_xfixes_event_selection($0) }
        let time = withUnsafePointer(to: &event) { clipd_xfixes_event_timestamp($0) }
        guard let selection = atoms.selection(selectionAtom), selections.contains(selection) else { return }
        // Our own ownership coming back is an echo; no owner means the selection was
        // cleared (its owner quit or gave it up), reported as a copy of nothing.
        guard newOwner != owner.window else { return }
        guard newOwner != clipd_x11_none_window() else {
            reader.cancel(selection)
            return onCopy(LocalCopy(selection: selection, representations: []))
        }
        reader.start(selection, time: time, now: now)
    }
}
