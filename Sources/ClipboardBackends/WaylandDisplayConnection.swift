import CWaylandClient
import CWaylandProtocols
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// One connection to a Wayland compositor through a data-control protocol: binds the
/// manager and the seat's device, tracks offers, and dispatches to the reader of new
/// offers (`WaylandOfferReader`) and the owner of peers' items (`WaylandSourceWriter`).
///
/// Confined to the backend's thread (libwayland's default queue is dispatched nowhere
/// else); nothing here is thread-safe.
final class WaylandDisplayConnection: DisplayConnection {
    /// Pipe buffer asked for on the pipes clipd reads and writes: fewer wake-ups for large
    /// items. Linux's F_SETPIPE_SZ; the default 64 KiB stays when the kernel refuses.
    static let pipeCapacity: Int32 = 1 << 20
    static let setPipeSize: Int32 = 1031

    let display: OpaquePointer
    /// What the compositor is called in messages (the socket name or path).
    let socketName: String
    private(set) var control: DataControl?
    private(set) var primaryAvailable = false
    private let selections: Set<Selection>
    private let policy: ClipboardPolicy
    private let mailbox: ReadMailbox
    private let onCopy: (LocalCopy) -> Void
    private let log: (String) -> Void
    private var reader: WaylandOfferReader?
    private var writer: WaylandSourceWriter?

    private var registry: OpaquePointer?
    private var globals: [String: (name: UInt32, version: UInt32)] = [:]
    private var seat: OpaquePointer?
    private var manager: OpaquePointer?
    private var boundGlobals: Set<UInt32> = []
    private var device: OpaquePointer?
    private var lost = false
    private var readPrepared = false
    /// True until the first round trip after binding the device: the selections announced
    /// then were copied before clipd started and are not new copies.
    private var announcing = true

    /// Offers the compositor announced, with the MIME types each one listed.
    private var offers: [OpaquePointer: [String]] = [:]
    private var current: [Selection: OpaquePointer] = [:]

    private init(display: OpaquePointer, socketName: String, selections: Set<Selection>, policy: ClipboardPolicy, mailbox: ReadMailbox,
                 onCopy: @escaping (LocalCopy) -> Void, log: @escaping (String) -> Void) {
        self.display = display
        self.socketName = socketName
        self.selections = selections
        self.policy = policy
        self.mailbox = mailbox
        self.onCopy = onCopy
        self.log = log
    }

    /// Connects, binds a data-control manager (ext-data-control-v1 when offered, else
    /// zwlr_data_control_manager_v1) and the first seat's device. Throws a one-line error
    /// naming what is missing.
    static func connect(displayName: String?, selections: Set<Selection>, policy: ClipboardPolicy, mailbox: ReadMailbox,
                        onCopy: @escaping (LocalCopy) -> Void, log: @escaping (String) -> Void) throws -> WaylandDisplayConnection {
        let socketName = displayName ?? getenv("WAYLAND_DISPLAY").map { String(cString: $0) } ?? "wayland-0"
        guard let display = wl_display_connect(displayName) else {
            throw BackendError("cannot connect to the Wayland compositor at \(socketName): \(String(cString: strerror(errno))); use --backend memory on a machine without a desktop")
        }
        let session = WaylandDisplayConnection(display: display, socketName: socketName, selections: selections, policy: policy, mailbox: mailbox, onCopy: onCopy, log: log)
        do {
            try session.bind()
        } catch {
            session.close()
            throw error
        }
        return session
    }

    /// `self` as the user data every listener gets back. The session outlives its proxies:
    /// `close()` destroys them all before the loop drops the session.
    private var userData: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ data: UnsafeMutableRawPointer?) -> WaylandDisplayConnection {
        Unmanaged<WaylandDisplayConnection>.fromOpaque(data!).takeUnretainedValue()
    }

    private func bind() throws {
        registry = wl_display_get_registry(display)
        guard let registry else { throw BackendError("the Wayland compositor at \(socketName) closed the connection") }
        _ = wl_registry_add_listener(registry, DataControlListeners.registry, userData)
        guard wl_display_roundtrip(display) >= 0 else { throw BackendError("the Wayland compositor at \(socketName) closed the connection") }
        guard let chosen = DataControl.all.first(where: { globals[$0.name] != nil }), let global = globals[chosen.name] else {
            throw BackendError("the Wayland compositor at \(socketName) offers no data-control protocol (neither ext_data_control_manager_v1 nor zwlr_data_control_manager_v1; GNOME's Mutter has none): use --backend x11 through XWayland, or --backend memory")
        }
        guard let seatGlobal = globals["wl_seat"] else { throw BackendError("the Wayland compositor at \(socketName) has no seat") }
        let version = min(global.version, chosen.highestVersion)
        control = chosen
        boundVersion = version
        reader = WaylandOfferReader(control: chosen, policy: policy, onCopy: onCopy, log: log)
        writer = WaylandSourceWriter(control: chosen, mailbox: mailbox, log: log)
        primaryAvailable = version >= chosen.primarySince
        manager = OpaquePointer(wl_registry_bind(registry, global.name, chosen.managerInterface, version))
        seat = OpaquePointer(wl_registry_bind(registry, seatGlobal.name, clipd_wl_seat_interface(), 1))
        guard let manager, let seat, let device = chosen.getDevice(manager, seat) else {
            throw BackendError("the Wayland compositor at \(socketName) refused the data-control device")
        }
        boundGlobals = [global.name, seatGlobal.name]
        _ = wl_seat_add_listener(seat, DataControlListeners.seat, userData)
        self.device = device
        chosen.listenToDevice(device, userData)
        guard wl_display_roundtrip(display) >= 0, !lost else { throw BackendError("the Wayland compositor at \(socketName) closed the connection") }
        announcing = false
        if selections.contains(.primary) && !primaryAvailable {
            log("the compositor's \(chosen.name) is version \(global.version): the primary selection is not synced")
        }
    }

    /// A short name for status lines: the protocol in use.
    var protocolName: String { control?.name ?? "none" }

    /// The version of the data-control protocol bound.
    private(set) var boundVersion: UInt32 = 0

    /// The protocol in use, its version and the selections it carries, for `clipd doctor`.
    var protocolSummary: String {
        "\(protocolName) version \(boundVersion) (\(primaryAvailable ? "clipboard and primary" : "clipboard only; primary needs version 2"))"
    }

    // MARK: Registry and device events

    func globalAdded(name: UInt32, interface: UnsafePointer<CChar>?, version: UInt32) {
        guard let interface else { return }
        let key = String(cString: interface)
        if globals[key] == nil { globals[key] = (name, version) }  // the first seat is the one used
    }

    func globalRemoved(name: UInt32) {
        if boundGlobals.contains(name) { lost = true }
    }

    func deviceFinished() { lost = true }

    func offerAnnounced(_ offer: OpaquePointer?) {
        guard let offer, let control else { return }
        offers[offer] = []
        control.listenToOffer(offer, userData)
    }

    func offerHasType(_ offer: OpaquePointer?, _ type: UnsafePointer<CChar>?) {
        guard let offer, let type else { return }
        offers[offer]?.append(String(cString: type))
    }

    func selectionChanged(_ selection: Selection, offer: OpaquePointer?) {
        if let old = current[selection], old != offer { forget(old) }
        current[selection] = offer
        reader?.cancel(selection)
        guard !announcing, selections.contains(selection) else { return }
        // No offer: the selection was cleared (its owner quit or gave it up).
        guard let offer else { return onCopy(LocalCopy(selection: selection, representations: [])) }
        // Our own item coming back is an echo.
        if writer?.isOurs(selection, types: offers[offer] ?? []) == true { return }
        reader?.start(selection, offer: offer, types: offers[offer] ?? [])
    }

    private func forget(_ offer: OpaquePointer) {
        offers[offer] = nil
        control?.destroyOffer(offer)
    }

    // MARK: Owning items from peers

    func own(_ header: ItemHeader, content: ItemContent) {
        let selection = header.selection
        guard selections.contains(selection), let manager, let device, let writer else { return }
        guard selection == .clipboard || primaryAvailable else { return }
        writer.own(header, content: content, manager: manager, device: device, userData: userData)
        reader?.cancel(selection)  // whatever was being read is older than this item
    }

    func readArrived(_ token: Int, _ outcome: ReadOutcome) { writer?.readArrived(token, outcome) }

    func sendRequested(_ source: OpaquePointer?, mimeType: UnsafePointer<CChar>?, fd: Int32) {
        guard let writer else {
            Glibc.close(fd)
            return
        }
        writer.sendRequested(source, mimeType: mimeType, fd: fd)
    }

    func sourceCancelled(_ source: OpaquePointer?) { writer?.sourceCancelled(source) }

    // MARK: The loop's calls

    var isLost: Bool { lost }

    var nextDeadline: Double? { [reader?.nextDeadline, writer?.nextDeadline].compactMap { $0 }.min() }

    func prepareToSleep(now: Double) -> (descriptors: [pollfd], immediate: Bool) {
        reader?.expire(now: now)
        writer?.expire(now: now)
        guard !lost else { return ([], true) }
        // Events already queued are dispatched first: libwayland's rule for sleeping safely.
        while wl_display_prepare_read(display) != 0 {
            guard wl_display_dispatch_pending(display) >= 0 else {
                lost = true
                return ([], true)
            }
        }
        readPrepared = true
        var displayEvents = Int16(POLLIN)
        if wl_display_flush(display) < 0 {
            if errno == EAGAIN {
                displayEvents |= Int16(POLLOUT)  // the socket is full: finish flushing later
            } else {
                lost = true
            }
        }
        let descriptors = [pollfd(fd: wl_display_get_fd(display), events: displayEvents, revents: 0)]
            + (reader?.descriptors ?? []) + (writer?.descriptors ?? [])
        return (descriptors, lost)
    }

    func handle(ready: ArraySlice<pollfd>, now: Double) {
        if readPrepared, let displayFD = ready.first {
            readPrepared = false
            if displayFD.revents & Int16(POLLIN) != 0 {
                if wl_display_read_events(display) < 0 { lost = true }
            } else {
                wl_display_cancel_read(display)
                if displayFD.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { lost = true }
            }
        }
        guard !lost else { return }
        if wl_display_dispatch_pending(display) < 0 {
            lost = true
            return
        }
        for descriptor in ready.dropFirst() where descriptor.revents != 0 {
            if descriptor.events & Int16(POLLIN) != 0 {
                reader?.readable(fd: descriptor.fd)
            } else {
                writer?.writeMore(descriptor.fd)
            }
        }
    }

    func close() {
        if readPrepared {
            wl_display_cancel_read(display)
            readPrepared = false
        }
        reader?.close()
        writer?.close()
        if let control {
            for offer in offers.keys { control.destroyOffer(offer) }
            if let device { control.destroyDevice(device) }
            if let manager { control.destroyManager(manager) }
        }
        offers.removeAll()
        if let seat { wl_seat_destroy(seat) }
        if let registry { wl_registry_destroy(registry) }
        wl_display_flush(display)
        wl_display_disconnect(display)
    }
}
