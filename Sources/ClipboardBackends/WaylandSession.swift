import CWaylandClient
import CWaylandProtocols
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// One connection to a Wayland compositor through a data-control protocol: watches the
/// selections, reads new offers through non-blocking pipes, and owns items from peers with
/// sources whose send requests are written from the event loop.
///
/// Confined to the backend's thread (libwayland's default queue is dispatched nowhere
/// else); nothing here is thread-safe.
final class WaylandSession: DesktopSession {
    /// How long a source or a reader may stay silent in the middle of a transfer.
    static let transferTimeout = 5.0
    /// Pipe buffer asked for on the pipes clipd reads and writes: fewer wake-ups for large
    /// items. Linux's F_SETPIPE_SZ; the default 64 KiB stays when the kernel refuses.
    static let pipeCapacity: Int32 = 1 << 20
    private static let setPipeSize: Int32 = 1031

    let display: OpaquePointer
    /// What the compositor is called in messages (the socket name or path).
    let socketName: String
    private(set) var control: DataControl?
    private(set) var primaryAvailable = false
    private let selections: Set<Selection>
    private let policy: ClipboardPolicy
    private let onCopy: (LocalCopy) -> Void
    private let log: (String) -> Void

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
    private var reads: [Selection: OfferRead] = [:]
    private var sources: [OpaquePointer: OwnedSource] = [:]
    private var owned: [Selection: OpaquePointer] = [:]
    private var writes: [Int32: OutgoingWrite] = [:]
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)

    struct OfferRead {
        let offer: OpaquePointer
        /// Types still to read, each with what it is stored under; the password hint first.
        var queue: [(offered: String, storedAs: String)]
        var reading: (offered: String, storedAs: String)?
        var fd: Int32 = -1
        var buffer: [UInt8] = []
        var collected: [(mimeType: String, bytes: [UInt8])] = []
        var collectedSize = 0
        var deadline: Double
    }

    struct OwnedSource {
        let selection: Selection
        let served: [String: ArraySlice<UInt8>]
    }

    struct OutgoingWrite {
        let bytes: ArraySlice<UInt8>
        var offset = 0
        var deadline: Double
    }

    private init(display: OpaquePointer, socketName: String, selections: Set<Selection>, policy: ClipboardPolicy,
                 onCopy: @escaping (LocalCopy) -> Void, log: @escaping (String) -> Void) {
        self.display = display
        self.socketName = socketName
        self.selections = selections
        self.policy = policy
        self.onCopy = onCopy
        self.log = log
    }

    /// Connects, binds a data-control manager (ext-data-control-v1 when offered, else
    /// zwlr_data_control_manager_v1) and the first seat's device. Throws a one-line error
    /// naming what is missing.
    static func connect(displayName: String?, selections: Set<Selection>, policy: ClipboardPolicy,
                        onCopy: @escaping (LocalCopy) -> Void, log: @escaping (String) -> Void) throws -> WaylandSession {
        let socketName = displayName ?? getenv("WAYLAND_DISPLAY").map { String(cString: $0) } ?? "wayland-0"
        guard let display = wl_display_connect(displayName) else {
            throw BackendError("cannot connect to the Wayland compositor at \(socketName): \(String(cString: strerror(errno))); use --backend memory on a machine without a desktop")
        }
        let session = WaylandSession(display: display, socketName: socketName, selections: selections, policy: policy, onCopy: onCopy, log: log)
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

    static func from(_ data: UnsafeMutableRawPointer?) -> WaylandSession {
        Unmanaged<WaylandSession>.fromOpaque(data!).takeUnretainedValue()
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
        cancelRead(selection)
        guard let offer, !announcing, selections.contains(selection) else { return }
        // Our own item coming back: the compositor cancels our source before it announces
        // anybody else's, so a live source whose types match means this offer is ours.
        if let mine = owned[selection], let source = sources[mine], Set(offers[offer] ?? []) == Set(source.served.keys) { return }
        startRead(selection, offer: offer)
    }

    private func forget(_ offer: OpaquePointer) {
        offers[offer] = nil
        control?.destroyOffer(offer)
    }

    // MARK: Reading an offer

    private func startRead(_ selection: Selection, offer: OpaquePointer) {
        let types = offers[offer] ?? []
        var queue = policy.choose(offered: types)
        if types.contains(ClipboardPolicy.passwordHint) {
            queue.insert((ClipboardPolicy.passwordHint, ClipboardPolicy.passwordHint), at: 0)
        }
        guard !queue.isEmpty else { return }
        reads[selection] = OfferRead(offer: offer, queue: queue, deadline: monotonicSeconds() + Self.transferTimeout)
        receiveNext(selection)
    }

    /// Asks the owner for the next type through a fresh pipe, or delivers the item.
    private func receiveNext(_ selection: Selection) {
        guard var job = reads[selection], let control else { return }
        guard !job.queue.isEmpty else {
            reads[selection] = nil
            if !job.collected.isEmpty { onCopy(LocalCopy(selection: selection, representations: job.collected)) }
            return
        }
        let next = job.queue.removeFirst()
        // Only our end is non-blocking: the owner's end shares its file status flags with
        // the descriptor it receives, and owners expect a blocking pipe.
        guard let ends = makePipe(nonBlockingRead: true, nonBlockingWrite: false) else {
            reads[selection] = nil
            log("no file descriptors left to read the \(selection) item")
            return
        }
        _ = fcntl(ends.read, Self.setPipeSize, Self.pipeCapacity)
        control.receive(job.offer, next.offered, ends.write)
        Glibc.close(ends.write)  // libwayland sent a duplicate
        job.reading = next
        job.fd = ends.read
        job.buffer = []
        job.deadline = monotonicSeconds() + Self.transferTimeout
        reads[selection] = job
    }

    private func readMore(_ selection: Selection) {
        guard var job = reads[selection], job.fd >= 0, let reading = job.reading else { return }
        while true {
            let count = scratch.withUnsafeMutableBytes { read(job.fd, $0.baseAddress, $0.count) }
            if count > 0 {
                job.buffer.append(contentsOf: scratch[0..<count])
                if job.collectedSize + job.buffer.count > policy.maximumItemSize {
                    Glibc.close(job.fd)
                    reads[selection] = nil
                    log("not syncing a \(selection) item: over --max-size \(policy.maximumItemSize) bytes")
                    return
                }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                job.deadline = monotonicSeconds() + Self.transferTimeout
                reads[selection] = job
                return
            }
            break  // end of data, or the owner's end failed: what arrived is all there is
        }
        Glibc.close(job.fd)
        job.fd = -1
        job.reading = nil
        let bytes = job.buffer
        job.buffer = []
        if reading.storedAs == ClipboardPolicy.passwordHint {
            if policy.keepsLocal(hint: bytes) {
                reads[selection] = nil
                log("skipped a \(selection) item marked secret by a password manager (sync_secrets is off)")
                return
            }
        } else {
            let value = reading.storedAs == ClipboardPolicy.textMIME ? ClipboardPolicy.utf8Text(bytes, readAs: reading.offered) : bytes
            if !value.isEmpty {
                job.collected.append((reading.storedAs, value))
                job.collectedSize += value.count
            }
        }
        reads[selection] = job
        receiveNext(selection)
    }

    private func cancelRead(_ selection: Selection) {
        if let job = reads[selection], job.fd >= 0 { Glibc.close(job.fd) }
        reads[selection] = nil
    }

    // MARK: Owning items from peers

    func own(_ item: ClipItem) {
        let selection = item.selection
        guard selections.contains(selection), let control, let manager, let device else { return }
        guard selection == .clipboard || primaryAvailable else { return }
        var served: [String: ArraySlice<UInt8>] = [:]
        for (mimeType, bytes) in item.representations {
            if ClipboardPolicy.isTextAlias(mimeType) {
                for alias in ClipboardPolicy.textAliases where served[alias] == nil { served[alias] = bytes }
            } else if served[mimeType] == nil {
                served[mimeType] = bytes
            }
        }
        guard let source = control.createSource(manager) else { return }
        control.listenToSource(source, userData)
        for type in served.keys.sorted() { control.offerType(source, type) }
        if selection == .clipboard { control.setSelection(device, source) } else { control.setPrimarySelection(device, source) }
        if let previous = owned[selection] {
            sources[previous] = nil
            control.destroySource(previous)
        }
        owned[selection] = source
        sources[source] = OwnedSource(selection: selection, served: served)
        cancelRead(selection)  // whatever was being read is older than this item
    }

    func sendRequested(_ source: OpaquePointer?, mimeType: UnsafePointer<CChar>?, fd: Int32) {
        guard let source, let mimeType, let bytes = sources[source]?.served[String(cString: mimeType)] else {
            Glibc.close(fd)  // a type we never offered, or a source already replaced
            return
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if bytes.count > 64 * 1024 { _ = fcntl(fd, Self.setPipeSize, Self.pipeCapacity) }
        writes[fd] = OutgoingWrite(bytes: bytes, deadline: monotonicSeconds() + Self.transferTimeout)
        writeMore(fd)  // small items finish here, without another trip through poll
    }

    func sourceCancelled(_ source: OpaquePointer?) {
        guard let source else { return }
        if let selection = sources[source]?.selection, owned[selection] == source { owned[selection] = nil }
        sources[source] = nil
        control?.destroySource(source)  // transfers under way keep their bytes and finish
    }

    private func writeMore(_ fd: Int32) {
        guard var transfer = writes[fd] else { return }
        while transfer.offset < transfer.bytes.count {
            let count = transfer.bytes.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + transfer.offset, min(raw.count - transfer.offset, 1 << 20))
            }
            if count > 0 {
                transfer.offset += count
                transfer.deadline = monotonicSeconds() + Self.transferTimeout
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                writes[fd] = transfer
                return
            }
            break  // the reader went away (EPIPE: SIGPIPE is ignored by the daemon)
        }
        Glibc.close(fd)
        writes[fd] = nil
    }

    // MARK: The loop's calls

    var isLost: Bool { lost }

    var nextDeadline: Double? {
        (reads.values.map(\.deadline) + writes.values.map(\.deadline)).min()
    }

    func prepareToSleep(now: Double) -> (descriptors: [pollfd], immediate: Bool) {
        expire(now: now)
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
        var descriptors = [pollfd(fd: wl_display_get_fd(display), events: displayEvents, revents: 0)]
        for job in reads.values where job.fd >= 0 { descriptors.append(pollfd(fd: job.fd, events: Int16(POLLIN), revents: 0)) }
        for fd in writes.keys { descriptors.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
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
                if let selection = reads.first(where: { $0.value.fd == descriptor.fd })?.key { readMore(selection) }
            } else {
                writeMore(descriptor.fd)
            }
        }
    }

    private func expire(now: Double) {
        for (selection, job) in reads where job.deadline <= now {
            cancelRead(selection)
            log("the \(selection) owner stopped sending; its item was not read")
        }
        for (fd, transfer) in writes where transfer.deadline <= now {
            Glibc.close(fd)
            writes[fd] = nil
        }
    }

    func close() {
        if readPrepared {
            wl_display_cancel_read(display)
            readPrepared = false
        }
        for selection in Array(reads.keys) { cancelRead(selection) }
        for fd in writes.keys { Glibc.close(fd) }
        writes.removeAll()
        if let control {
            for offer in offers.keys { control.destroyOffer(offer) }
            for source in sources.keys { control.destroySource(source) }
            if let device { control.destroyDevice(device) }
            if let manager { control.destroyManager(manager) }
        }
        offers.removeAll()
        sources.removeAll()
        if let seat { wl_seat_destroy(seat) }
        if let registry { wl_registry_destroy(registry) }
        wl_display_flush(display)
        wl_display_disconnect(display)
    }
}
