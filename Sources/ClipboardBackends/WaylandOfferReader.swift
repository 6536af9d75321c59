import CWaylandClient
import CWaylandProtocols
import ClipSync
import ClipWire

#if canImport(Glibc)
import Glibc
#endif

/// Reads the item of a new selection offer: the password hint first when offered, then
/// each wanted type through a fresh pipe, read without blocking from the event loop, and
/// hands the item over. Reading stops at `policy.maximumItemSize`.
///
/// Confined to the backend's Wayland thread.
final class WaylandOfferReader {
    /// How long a source may stay silent in the middle of a transfer.
    static let transferTimeout = 5.0

    private let control: DataControl
    private let policy: ClipboardPolicy
    private let onCopy: (LocalCopy) -> Void
    private let log: (String) -> Void
    private var reads: [Selection: OfferRead] = [:]
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
        /// The password hint's value, when the owner offered one.
        var hint: [UInt8]?
    }

    init(control: DataControl, policy: ClipboardPolicy, onCopy: @escaping (LocalCopy) -> Void, log: @escaping (String) -> Void) {
        self.control = control
        self.policy = policy
        self.onCopy = onCopy
        self.log = log
    }

    /// Starts reading `offer`, which lists `types`.
    func start(_ selection: Selection, offer: OpaquePointer, types: [String]) {
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
        guard var job = reads[selection] else { return }
        guard !job.queue.isEmpty else {
            reads[selection] = nil
            if !job.collected.isEmpty { onCopy(LocalCopy(selection: selection, representations: ClipboardPolicy.withHint(job.collected, hint: job.hint))) }
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
        _ = fcntl(ends.read, WaylandDisplayConnection.setPipeSize, WaylandDisplayConnection.pipeCapacity)
        control.receive(job.offer, next.offered, ends.write)
        Glibc.close(ends.write)  // libwayland sent a duplicate
        job.reading = next
        job.fd = ends.read
        job.buffer = []
        job.deadline = monotonicSeconds() + Self.transferTimeout
        reads[selection] = job
    }

    /// The pipe of a read became readable.
    func readable(fd: Int32) {
        guard let selection = reads.first(where: { $0.value.fd == fd })?.key else { return }
        readMore(selection)
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
            job.hint = bytes
            if policy.keepsLocal(hint: bytes) {
                reads[selection] = nil
                log("skipped a \(selection) item marked secret by a password manager (sync_secrets is off)")
                return
            }
        } else {
            let value = ClipboardPolicy.storedValue(bytes, readAs: reading.offered, storedAs: reading.storedAs)
            if !value.isEmpty {
                job.collected.append((reading.storedAs, value))
                job.collectedSize += value.count
            }
        }
        reads[selection] = job
        receiveNext(selection)
    }

    /// Stops reading a selection (a newer offer, or our own item took it).
    func cancel(_ selection: Selection) {
        if let job = reads[selection], job.fd >= 0 { Glibc.close(job.fd) }
        reads[selection] = nil
    }

    // MARK: The loop's calls

    var descriptors: [pollfd] { reads.values.filter { $0.fd >= 0 }.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) } }

    var nextDeadline: Double? { reads.values.map(\.deadline).min() }

    func expire(now: Double) {
        for (selection, job) in reads where job.deadline <= now {
            cancel(selection)
            log("the \(selection) owner stopped sending; its item was not read")
        }
    }

    func close() {
        for selection in Array(reads.keys) { cancel(selection) }
    }
}
