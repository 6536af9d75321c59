import ClipSync
import ClipWire

/// The host's side of one guest's SPICE agent: clipd plays the SPICE client on the agent's
/// port and presents the guest to the sync engine as one more peer (protocol/vdagent.md).
///
/// Pure logic, like the engine: bytes from the guest and messages from the engine go in,
/// `Output`s come out for the owner to carry out in order. The guest's items get the
/// guest's own device id and a hybrid clock that has seen every item offered to it, so
/// last-writer-wins orders them like any peer's.
///
/// Not thread-safe: the daemon confines it to its event loop.
public final class VDAgentBridge {
    public enum Output: Equatable {
        /// Bytes to write to the agent's port.
        case toGuest([UInt8])
        /// The agent is ready: open an engine session for the guest.
        case openSession
        /// The engine session ends (the agent restarted or the channel was reset).
        case closeSession
        /// A message from the guest's side to the engine, on the guest's session.
        case toEngine(SessionMessage)
        /// One line for the daemon's log.
        case log(LogLevel, String)
    }

    public enum LogLevel: Sendable, Equatable { case debug, info, notice, warning }

    /// A host item the guest holds as its clipboard (clipd grabbed the selection for it),
    /// with the bytes of each representation the guest takes, by MIME type.
    struct Held {
        let header: ItemHeader
        let types: [VDAgentItemTypes.GuestType]
        let bytes: [String: ArraySlice<UInt8>]
    }

    /// A host item being fetched before the grab: one request per representation the guest
    /// takes, and what each brought so far.
    final class PendingFetch {
        let header: ItemHeader
        let types: [VDAgentItemTypes.GuestType]
        var received: [UInt32: (mimeType: String, bytes: [UInt8])] = [:]
        var outstanding: Set<UInt32> = []
        init(header: ItemHeader, types: [VDAgentItemTypes.GuestType]) {
            self.header = header
            self.types = types
        }
    }

    /// A guest copy being read: the types asked for, one request at a time.
    struct GuestRead {
        let generation: Int
        let wanted: [VDAgentDataType]
        var next = 0
        var representations: [(mimeType: String, bytes: [UInt8])] = []
    }

    public let guestDevice: DeviceID
    let selections: Set<Selection>
    let maximumItemSize: UInt64
    var decoder: VDAgentFrameDecoder
    var codec = VDAgentCodec(selectionPrefix: false, grabSerial: false)
    var guestCapabilities: VDAgentCapabilities?
    var clock: HybridClock
    /// The largest data the guest takes, when it said so (MAX_CLIPBOARD).
    var guestMaximum: Int?
    public private(set) var sessionOpen = false
    var held: [Selection: Held] = [:]
    /// The serial the next grab of each selection carries (CLIPBOARD_GRAB_SERIAL).
    var nextSerial: [Selection: UInt32] = [:]
    /// Bumped by every grab and release of a selection: replies for older reads are dropped.
    var generation: [Selection: Int] = [:]
    var reads: [Selection: GuestRead] = [:]
    /// Requests sent and not yet answered, in order (the agent answers in order).
    var unanswered: [Selection: [(generation: Int, type: VDAgentDataType)]] = [:]
    /// Fetches of engine items too large to travel inline, by each of their request ids.
    var fetches: [UInt32: PendingFetch] = [:]
    var nextRequestID: UInt32 = 1
    var toldNoClipboard = false
    /// Resets sent since the agent last announced itself: 0 once it has answered.
    public private(set) var resetsUnanswered = 0

    /// - Parameters:
    ///   - guestDevice: the guest's device id (stable for the channel).
    ///   - selections: the selections the host syncs.
    ///   - maximumItemSize: the host's --max-size; larger guest data is discarded unread.
    public init(guestDevice: DeviceID, selections: Set<Selection>, maximumItemSize: UInt64,
                wallMilliseconds: @escaping @Sendable () -> UInt64) {
        self.guestDevice = guestDevice
        self.selections = selections
        self.maximumItemSize = maximumItemSize
        self.clock = HybridClock(wallMilliseconds: wallMilliseconds)
        decoder = VDAgentFrameDecoder(maximumMessageSize: Int(clamping: maximumItemSize) + 64)
    }

    /// The largest message the guest may send before it is discarded unread.
    public var maximumMessageSize: Int { decoder.maximumMessageSize }

    // MARK: The channel

    /// The port was (re)attached: whatever the agent was doing with an earlier host is
    /// dropped, and it is asked to start over (CLIENT_DISCONNECTED, then capabilities with
    /// request = 1). Input is ignored until the agent's announcement.
    public func attached() -> [Output] {
        resetAgent(reason: nil)
    }

    /// The port went away.
    public func detached() -> [Output] {
        decoder.resynchronise()
        return endSession()
    }

    /// Bytes from the guest. After bad input the rest of them is dropped: it was sent
    /// before the agent could see the reset, and its answer (an announcement) starts over.
    public func received(_ bytes: UnsafeRawBufferPointer) -> [Output] {
        received(bytes, maximumMessages: .max).outputs
    }

    /// Bytes from the guest, taken until `maximumMessages` messages are handled; returns the
    /// outputs and how many bytes were used (feed the rest again). The connection takes one
    /// message at a time while its channel takes writes, so a guest that asks without
    /// reading the answers is not read either.
    public func received(_ bytes: UnsafeRawBufferPointer, maximumMessages: Int) -> (outputs: [Output], consumed: Int) {
        var out: [Output] = []
        let (events, consumed) = decoder.feed(bytes, maximumEvents: maximumMessages)
        for event in events {
            var failure: String?
            switch event {
            case .message(let type, let body):
                do {
                    out += handle(try codec.decode(type, body: body))
                } catch {
                    failure = "\(error)"
                }
            case .oversized(let type, let size, let head):
                out += skippedOversized(type, size: size, head: head)
            case .malformed(let reason):
                failure = reason
            }
            if let failure {
                out += resetAgent(reason: failure)
                return (out, bytes.count)
            }
        }
        return (out, consumed)
    }

    /// Asks the agent to start over: every per-agent state is dropped and the engine
    /// session ends; it opens again at the agent's announcement. `reason` (bad input) is
    /// logged.
    func resetAgent(reason: String?) -> [Output] {
        var out = endSession()
        if let reason {
            out.append(.log(.warning, "malformed input from the SPICE agent (\(reason)): resetting the channel in-band"))
        }
        decoder.resynchronise()
        guestCapabilities = nil
        forgetAgentState()
        out += resetMessages()
        return out
    }

    /// The reset alone: CLIENT_DISCONNECTED and capabilities with request = 1, each one
    /// server-port chunk.
    private func resetMessages() -> [Output] {
        resetsUnanswered += 1
        return [.toGuest(codec.wireOnServerPort(.clientDisconnected)),
                .toGuest(codec.wireOnServerPort(.capabilities(request: true, .host)))]
    }

    /// The agent has not answered the reset (its announcement is due): the reset is sent
    /// again, the state it dropped staying dropped. A lost reset (an agent that was not
    /// running yet, or restarted meanwhile) so costs one watchdog period, not the session.
    /// Nothing happens once the agent has answered.
    public func resetUnanswered() -> [Output] {
        guard resetsUnanswered > 0 else { return [] }
        var out: [Output] = []
        if resetsUnanswered == 1 {
            out.append(.log(.notice, "the SPICE agent has not answered the reset; asking again (is the guest's agent running?)"))
        }
        return out + resetMessages()
    }

    private func endSession() -> [Output] {
        guard sessionOpen else { return [] }
        sessionOpen = false
        return [.closeSession]
    }

    /// What the agent forgets when it meets a new client, and what clipd knew of it.
    private func forgetAgentState() {
        held = [:]
        nextSerial = [:]
        reads = [:]
        unanswered = [:]
        fetches = [:]
        for selection in Selection.allCases { generation[selection, default: 0] += 1 }
    }

    // MARK: Messages from the guest

    private func handle(_ message: VDAgentMessage) -> [Output] {
        switch message {
        case .capabilities(let request, let capabilities):
            return announced(request: request, capabilities)
        case .grab(let raw, let serial, let types):
            guard let selection = usableSelection(raw) else { return [] }
            return guestGrabbed(selection, serial: serial, types: types)
        case .clipboard(let raw, let type, let data):
            guard let selection = usableSelection(raw) else { return [] }
            return guestSent(selection, type: type, data: data)
        case .request(let raw, let type):
            guard let selection = usableSelection(raw) else {
                return [.toGuest(codec.wire(.clipboard(selection: raw, type: VDAgentDataType.none.rawValue, data: [])))]
            }
            return guestAsked(selection, type: type)
        case .release(let raw):
            guard let selection = usableSelection(raw) else { return [] }
            abandonRead(selection)
            return []
        case .maxClipboard(let maximum):
            guestMaximum = maximum > 0 ? Int(maximum) : nil
            return []
        case .clientDisconnected, .other:
            return []
        }
    }

    private func announced(request: Bool, _ capabilities: VDAgentCapabilities) -> [Output] {
        var out: [Output] = []
        if request {
            // The agent (re)started: it has no grabs and its serials begin at zero.
            out += endSession()
            forgetAgentState()
            out.append(.toGuest(codec.wireOnServerPort(.capabilities(request: false, .host))))
        }
        guestCapabilities = capabilities
        resetsUnanswered = 0
        codec = VDAgentCodec(guest: capabilities)
        guard capabilities.contains(.clipboardByDemand) else {
            if !toldNoClipboard {
                toldNoClipboard = true
                out.append(.log(.warning, "the guest's SPICE agent does not offer the clipboard (no CLIPBOARD_BY_DEMAND capability)"))
            }
            return out
        }
        if capabilities.contains(.maxClipboard) {
            out.append(.toGuest(codec.wire(.maxClipboard(Int32(clamping: maximumItemSize)))))
        }
        if !sessionOpen {
            sessionOpen = true
            let lineEnds = capabilities.contains(.guestLineEndCRLF) ? "CR LF" : "LF"
            out.append(.log(.info, "SPICE agent ready (selections: \(codec.selectionPrefix ? "clipboard, primary" : "clipboard"); line ends: \(lineEnds))"))
            out.append(.openSession)
        }
        return out
    }

    /// The selection for a wire byte, when the host syncs it and the guest can name it.
    private func usableSelection(_ raw: UInt8) -> Selection? {
        guard sessionOpen, let selection = Selection(rawValue: raw), selections.contains(selection) else { return nil }
        return selection == .clipboard || codec.selectionPrefix ? selection : nil
    }

    var guestUsesCRLF: Bool { guestCapabilities?.contains(.guestLineEndCRLF) ?? false }

    private func guestGrabbed(_ selection: Selection, serial: UInt32?, types: [UInt32]) -> [Output] {
        if let serial {
            // A grab older than clipd's latest lost the race: the host's grab wins.
            guard serial >= nextSerial[selection, default: 0] else {
                return [.log(.debug, "discarded a \(selection) grab with serial \(serial) (host's grab wins)")]
            }
            nextSerial[selection] = serial &+ 1
            held[selection] = nil
        }
        // Without serials (the Windows agent) a guest grab may have crossed clipd's: the
        // agent then takes clipd's grab after its own and answers the requests below with
        // NONE. So clipd keeps serving its item until the guest's data shows its copy came
        // later; both sides then end with the same one (protocol/vdagent.md, rule 5).
        abandonRead(selection)
        let wanted = VDAgentItemTypes.wanted(fromGrab: types)
        guard !wanted.isEmpty else {
            return [.log(.debug, "the guest copied types \(types) to its \(selection); clipd carries text and images only")]
        }
        reads[selection] = GuestRead(generation: generation[selection]!, wanted: wanted)
        return requestNext(selection)
    }

    /// Most requests a selection may have unanswered: an agent that falls this far behind
    /// is reset rather than remembered without end.
    static let maximumUnanswered = 32

    /// Drops the read under way for `selection`; answers still due for it will be ignored.
    func abandonRead(_ selection: Selection) {
        generation[selection, default: 0] += 1
        reads[selection] = nil
    }

    private func requestNext(_ selection: Selection) -> [Output] {
        guard let read = reads[selection], read.next < read.wanted.count else { return [] }
        guard unanswered[selection, default: []].count < Self.maximumUnanswered else {
            return resetAgent(reason: "\(Self.maximumUnanswered) \(selection) requests left unanswered")
        }
        let type = read.wanted[read.next]
        unanswered[selection, default: []].append((read.generation, type))
        return [.toGuest(codec.wire(.request(selection: selection.rawValue, type: type.rawValue)))]
    }

    private func guestSent(_ selection: Selection, type: UInt32, data: [UInt8]) -> [Output] {
        answered(selection) { asked, read in
            guard type == asked.rawValue, !data.isEmpty, let mimeType = asked.mimeType else { return }
            let bytes = asked == .utf8Text ? VDAgentItemTypes.textFromGuest(data, crlf: guestUsesCRLF) : data
            if !bytes.isEmpty { read.representations.append((mimeType, bytes)) }
        }
    }

    /// A CLIPBOARD larger than --max-size went by unread: its request counts as answered.
    private func skippedOversized(_ type: VDAgentMessageType, size: Int, head: [UInt8]) -> [Output] {
        guard type == .clipboard else {
            return [.log(.warning, "the SPICE agent sent a \(size)-byte \(type); skipped")]
        }
        let out: [Output] = [.log(.warning, "not syncing the guest's \(size)-byte clipboard: over --max-size (\(maximumItemSize) bytes)")]
        guard let selection = usableSelection(codec.selectionPrefix ? (head.first ?? 0) : 0) else { return out }
        return out + answered(selection) { _, _ in }
    }

    /// The agent answered the oldest request of `selection`: when that request belongs to
    /// the read under way, `take` adds what the answer brought, and the read moves on to its
    /// next request or becomes an item. Answers to older reads are dropped.
    private func answered(_ selection: Selection, _ take: (VDAgentDataType, inout GuestRead) -> Void) -> [Output] {
        guard var queue = unanswered[selection], !queue.isEmpty else { return [] }
        let asked = queue.removeFirst()
        unanswered[selection] = queue
        guard var read = reads[selection], read.generation == asked.generation else { return [] }
        take(asked.type, &read)
        read.next += 1
        reads[selection] = read
        return read.next < read.wanted.count ? requestNext(selection) : finishRead(selection)
    }

    /// Every type asked for was answered: the guest's copy becomes an item for the engine.
    /// With no data at all, a grab that crossed clipd's lost, and clipd's item stands.
    private func finishRead(_ selection: Selection) -> [Output] {
        guard let read = reads.removeValue(forKey: selection) else { return [] }
        guard !read.representations.isEmpty else {
            guard let standing = held[selection] else { return [] }
            return [.log(.debug, "the guest's \(selection) grab crossed clipd's and brought no data: item \(standing.header.id) stands on both sides")]
        }
        held[selection] = nil
        let reading = clock.tick()
        let header = ItemHeader(selection: selection, id: ItemID(origin: guestDevice, counter: reading.rawValue), clock: reading,
                                representations: read.representations.map { RepresentationInfo(mimeType: $0.mimeType, size: UInt64($0.bytes.count)) })
        let data = read.representations.count == 1 ? read.representations[0].bytes : read.representations.flatMap(\.bytes)
        return [.toEngine(.offer(.init(header: header, inlineData: data)))]
    }

    private func guestAsked(_ selection: Selection, type: UInt32) -> [Output] {
        let none = VDAgentMessage.clipboard(selection: selection.rawValue, type: VDAgentDataType.none.rawValue, data: [])
        guard let held = held[selection], let entry = held.types.first(where: { $0.type.rawValue == type }),
              let bytes = held.bytes[entry.mimeType]
        else { return [.toGuest(codec.wire(none))] }
        let data = entry.type == .utf8Text ? VDAgentItemTypes.textForGuest(bytes, crlf: guestUsesCRLF) : Array(bytes)
        return [.toGuest(codec.wire(.clipboard(selection: selection.rawValue, type: type, data: data)))]
    }
}
