import CX11
import CX11Support
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A bare X client for tests and the benchmark: on one display it owns CLIPBOARD and answers
/// TARGETS plus whatever targets it was given; on another it watches who owns CLIPBOARD.
/// Everything runs on the calling thread, so timings need no locks.
public final class X11Probe {
    let display: OpaquePointer
    let window: Window
    let clipboard: Atom, targets: Atom, utf8: Atom, atomType: Atom, stamp: Atom
    private var fixesBase: Int32 = 0
    private var values: [Atom: [UInt8]] = [:]

    public init?(displayName: String, watch: Bool) {
        guard let display = XOpenDisplay(displayName) else { return nil }
        self.display = display
        window = XCreateSimpleWindow(display, XDefaultRootWindow(display), 0, 0, 1, 1, 0, 0, 0)
        XSelectInput(display, window, PropertyChangeMask)
        clipboard = XInternAtom(display, "CLIPBOARD", 0)
        targets = XInternAtom(display, "TARGETS", 0)
        utf8 = XInternAtom(display, "UTF8_STRING", 0)
        atomType = XInternAtom(display, "ATOM", 0)
        stamp = XInternAtom(display, "CLIPD_BENCH_TIME", 0)
        if watch {
            var errorBase: Int32 = 0
            _ = XFixesQueryExtension(display, &fixesBase, &errorBase)
            XFixesSelectSelectionInput(display, XDefaultRootWindow(display), clipboard, UInt(XFixesSetSelectionOwnerNotifyMask))
        }
        XFlush(display)
    }

    deinit { XCloseDisplay(display) }

    /// Asks the CLIPBOARD owner for several targets at once with MULTIPLE (ICCCM 2.6.2) and
    /// returns, per target name, the bytes written for it (nil when the owner refused it).
    public func requestMultiple(_ names: [String]) -> [String: [UInt8]?]? {
        let multiple = XInternAtom(display, "MULTIPLE", 0)
        let atomPair = XInternAtom(display, "ATOM_PAIR", 0)
        let listProperty = XInternAtom(display, "CLIPD_PROBE_MULTIPLE", 0)
        var pairs: [UInt] = []
        var properties: [Atom] = []
        for (index, name) in names.enumerated() {
            let property = XInternAtom(display, "CLIPD_PROBE_\(index)", 0)
            pairs += [XInternAtom(display, name, 0), property]
            properties.append(property)
        }
        let count = Int32(pairs.count)
        pairs.withUnsafeMutableBytes { raw in
            _ = XChangeProperty(display, window, listProperty, atomPair, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count)
        }
        XConvertSelection(display, clipboard, multiple, listProperty, window, clipd_x11_current_time())
        XFlush(display)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            var event = XEvent()
            if XPending(display) > 0 {
                XNextEvent(display, &event)
                guard event.type == SelectionNotify, event.xselection.target == multiple else { continue }
                guard event.xselection.property != clipd_x11_none_atom() else { return nil }
                let answered = read(listProperty).map { bytes in bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt.self)) } } ?? []
                var result: [String: [UInt8]?] = [:]
                for (index, name) in names.enumerated() {
                    let refused = answered.count > index * 2 + 1 && answered[index * 2 + 1] == 0
                    result[name] = refused ? nil : read(properties[index])
                }
                return result
            }
            var fd = pollfd(fd: XConnectionNumber(display), events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, 20)
        }
        return nil
    }

    private func read(_ property: Atom) -> [UInt8]? { readTyped(property)?.bytes }

    /// Answers requests for `seconds` (keeps the item readable while a daemon reads it).
    public func serve(for seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            _ = pump()
            var fd = pollfd(fd: XConnectionNumber(display), events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, 20)
        }
    }

    /// Empties CLIPBOARD (its owner becomes None), as a password manager clearing it or
    /// an owner quitting does.
    public func clear() {
        XSetSelectionOwner(display, clipboard, Window(0), Time(0))
        XFlush(display)
    }

    /// Takes CLIPBOARD with `text` as its UTF8_STRING.
    public func own(_ text: [UInt8]) { own(targets: ["UTF8_STRING": text]) }

    /// Takes CLIPBOARD offering each named target with its bytes (format 8).
    public func own(targets: [String: [UInt8]]) {
        values = Dictionary(uniqueKeysWithValues: targets.map { (XInternAtom(display, $0.key, 0), $0.value) })
        let time = clipd_x11_server_time(display, window, stamp)
        XSetSelectionOwner(display, clipboard, window, time)
        XFlush(display)
    }

    /// Answers pending selection requests (as owner) and reports whether an owner change by
    /// another client arrived (as watcher).
    public func pump() -> Bool {
        var changed = false
        while XPending(display) > 0 {
            var event = XEvent()
            XNextEvent(display, &event)
            if fixesBase != 0 && event.type == clipd_xfixes_selection_notify(fixesBase) {
                let owner = withUnsafePointer(to: &event) { clipd_xfixes_event_owner($0) }
                if owner != clipd_x11_none_window() { changed = true }
            } else if event.type == SelectionRequest {
                answer(event.xselectionrequest)
            }
        }
        XFlush(display)
        return changed
    }

    private func answer(_ request: XSelectionRequestEvent) {
        var reply = XEvent()
        reply.xselection.type = SelectionNotify
        reply.xselection.requestor = request.requestor
        reply.xselection.selection = request.selection
        reply.xselection.target = request.target
        reply.xselection.time = request.time
        reply.xselection.property = request.property
        if request.target == targets {
            var list = [targets] + values.keys.sorted()
            let count = Int32(list.count)
            list.withUnsafeMutableBytes { raw in
                _ = XChangeProperty(display, request.requestor, request.property, atomType, 32, PropModeReplace, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count)
            }
        } else if let value = values[request.target] {
            value.withUnsafeBufferPointer { p in
                _ = XChangeProperty(display, request.requestor, request.property, request.target, 8, PropModeReplace, p.baseAddress, Int32(p.count))
            }
        } else {
            reply.xselection.property = clipd_x11_none_atom()
        }
        XSendEvent(display, request.requestor, 0, NoEventMask, &reply)
    }

    /// The X server's time now (a property change's timestamp).
    public func serverTime() -> UInt {
        UInt(clipd_x11_server_time(display, window, XInternAtom(display, "CLIPD_PROBE_TIME", 0)))
    }

    /// Whether the server has an atom of this name (asking does not create one).
    public func atomExists(_ name: String) -> Bool { XInternAtom(display, name, 1) != 0 }

    /// The names of the targets CLIPBOARD's owner offers, or nil when it does not answer.
    public func targetNames(timeout: Double = 5) -> [String]? {
        guard let bytes = paste(target: "TARGETS", timeout: timeout) else { return nil }
        return bytes.withUnsafeBytes { raw in
            raw.bindMemory(to: Atom.self).compactMap { atom in
                guard let name = XGetAtomName(display, atom) else { return nil }
                defer { XFree(name) }
                return String(cString: name)
            }
        }
    }

    /// Pastes CLIPBOARD as `target` the way toolkits do, following INCR: `progress` hears the
    /// byte count after every chunk. Nil when the owner refuses or goes silent for
    /// `timeout` seconds.
    /// With `time`, the request is stamped with it (as a toolkit stamps it with the event it
    /// handles), rather than CurrentTime.
    public func paste(target: String, timeout: Double, time: UInt? = nil, progress: (Int) -> Void = { _ in }) -> [UInt8]? {
        let property = XInternAtom(display, "CLIPD_PROBE_PASTE", 0)
        let incr = XInternAtom(display, "INCR", 0)
        let wanted = XInternAtom(display, target, 0)
        XConvertSelection(display, clipboard, wanted, property, window, time.map { Time($0) } ?? clipd_x11_current_time())
        XFlush(display)
        var deadline = Date().addingTimeInterval(timeout)
        var incremental = false
        var collected: [UInt8] = []
        while Date() < deadline {
            var event = XEvent()
            guard XPending(display) > 0 else {
                var fd = pollfd(fd: XConnectionNumber(display), events: Int16(POLLIN), revents: 0)
                _ = poll(&fd, 1, 20)
                continue
            }
            XNextEvent(display, &event)
            if !incremental, event.type == SelectionNotify, event.xselection.target == wanted {
                guard event.xselection.property != clipd_x11_none_atom() else { return nil }
                guard let (type, bytes) = readTyped(property) else { return nil }
                guard type == incr else { return bytes }
                incremental = true  // deleting the property (done by the read) asks for the first chunk
                deadline = Date().addingTimeInterval(timeout)
            } else if incremental, event.type == PropertyNotify, event.xproperty.atom == property, event.xproperty.state == PropertyNewValue {
                guard let (_, bytes) = readTyped(property) else { continue }
                if bytes.isEmpty { return collected }
                collected += bytes
                progress(collected.count)
                deadline = Date().addingTimeInterval(timeout)
            }
        }
        return nil
    }

    private func readTyped(_ property: Atom) -> (type: Atom, bytes: [UInt8])? {
        var type: Atom = 0
        var format: Int32 = 0
        var count: UInt = 0
        var remaining: UInt = 0
        var data: UnsafeMutablePointer<UInt8>?
        guard XGetWindowProperty(display, window, property, 0, Int.max / 4, 1, clipd_x11_none_atom(), &type, &format, &count, &remaining, &data) == Success,
              type != clipd_x11_none_atom()
        else { return nil }
        defer { if let data { XFree(data) } }
        let unit = format == 32 ? MemoryLayout<CLong>.size : Int(format) / 8
        XFlush(display)
        return (type, data.map { Array(UnsafeBufferPointer(start: $0, count: Int(count) * unit)) } ?? [])
    }

    /// Pumps `owner` and `watcher` until the watcher sees a new owner; false on timeout.
    public static func waitForOwnerChange(owner: X11Probe?, watcher: X11Probe, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            _ = owner?.pump()
            if watcher.pump() { return true }
            var fds = [pollfd(fd: XConnectionNumber(watcher.display), events: Int16(POLLIN), revents: 0)]
            if let owner { fds.append(pollfd(fd: XConnectionNumber(owner.display), events: Int16(POLLIN), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), 50)
        }
        return false
    }
}
