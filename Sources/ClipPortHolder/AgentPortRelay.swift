/// What the port holder does between a guest's SPICE agent port and the clipd daemon that
/// serves it (README, "The agent's port holder"; protocol/vdagent.md, "Holding the port").
///
/// The guest's side stays connected for the VM's life; a daemon comes and goes. The relay
/// guarantees:
/// - **The agent only ever receives whole messages.** What the daemon writes is reassembled
///   and passed on a message at a time, so a daemon killed mid-answer leaves nothing
///   half-written in the agent (which would append the next host's chunks to it).
/// - **Nothing from the daemon reaches a closed port.** While the guest's port is known to
///   be closed, the daemon's messages are dropped, and when it closes the daemon is let go
///   (`.dropDaemon`) and the bytes already queued toward it are to be purged (`.purgeGuest`),
///   so a restarted agent never reads what was meant for the one before.
/// - **A paste never waits on an absent daemon.** While none is attached, what the guest
///   writes is read and discarded, and a CLIPBOARD_REQUEST is answered at once with NONE;
///   when a daemon goes, the agent is told (CLIENT_DISCONNECTED, as spice-server does when
///   its client goes) and drops the host's grabs.
/// - **A daemon that breaks the agent's rules is cut off**, not passed on: chunks over 2048
///   bytes, ports other than 1 and 2, a server-port message not in one chunk, a message
///   over `maximumMessage`.
///
/// The guest's bytes go to the daemon unchanged: a newly attached daemon resets the agent
/// and skips what came before its announcement (protocol/vdagent.md, rule 1).
///
/// Pure logic with no I/O; not thread-safe (the holder's thread owns it).
public struct AgentPortRelay {
    public enum Output: Equatable, Sendable {
        case toGuest([UInt8])
        case toDaemon([UInt8])
        /// Close the daemon's connection (the daemon reconnects and resets the agent).
        case dropDaemon(reason: String)
        /// Drop every byte queued toward the guest's port, in the holder and in the socket
        /// (reconnect to QEMU): the agent that would read them is gone.
        case purgeGuest
        case log(String)
    }

    /// What the holder knows of the guest's end of the port.
    public enum GuestPort: Sendable, Equatable {
        /// Open, or not known (no QMP to say): messages are passed on.
        case open
        case closed
    }

    public let maximumMessage: Int
    public private(set) var daemonAttached = false
    public private(set) var guestPort = GuestPort.open
    private var fromDaemon: AgentMessageReader
    private var fromGuest: AgentMessageReader
    /// The guest's stream could not be followed (bad framing): requests are not answered
    /// by the holder until the guest's side starts over.
    private var guestFramingLost = false
    /// Whether each side announced CLIPBOARD_SELECTION (the clipboard messages then carry
    /// a selection prefix).
    private var daemonSelection = false
    private var guestSelection = false
    /// The attached daemon's last request for the agent's capabilities (a reset), replayed
    /// when the port opens: the one it sent while the port was closed was dropped.
    private var daemonReset: [UInt8]?

    /// - Parameters:
    ///   - maximumMessage: the largest message the daemon may send (the holder holds one at
    ///     a time).
    ///   - guestPort: what is known of the guest's port at the start: `.closed` when QEMU
    ///     has just started and QMP will say when it opens.
    public init(maximumMessage: Int = 1 << 30, guestPort: GuestPort = .open) {
        self.maximumMessage = maximumMessage
        self.guestPort = guestPort
        fromDaemon = AgentMessageReader(rules: .init(maximumChunk: AgentWire.maximumChunkPayload, maximumMessage: maximumMessage,
                                                     serverPortWhole: true))
        fromGuest = AgentMessageReader(rules: .init(keep: { type, size in
            (type == AgentWire.clipboardRequest || type == AgentWire.announceCapabilities) && size <= 256
        }))
    }

    // MARK: The daemon's side

    /// A daemon connected (the holder let an earlier one go first).
    public mutating func daemonConnected() -> [Output] {
        daemonAttached = true
        daemonSelection = false
        daemonReset = nil
        fromDaemon.reset()
        return []
    }

    /// The daemon's connection ended: a message it left half-written is dropped, and an
    /// agent that can hear it is told its client went.
    public mutating func daemonDisconnected() -> [Output] {
        guard daemonAttached else { return [] }
        let partial: [Output] = fromDaemon.holdsPartialMessage
            ? [.log("clipd went away in the middle of a message to the guest; the agent never sees any of it")] : []
        return partial + forgetDaemon()
    }

    /// The daemon is gone or let go: what it left half-written is dropped, and an agent that
    /// can hear it is told its client went.
    private mutating func forgetDaemon() -> [Output] {
        daemonAttached = false
        fromDaemon.reset()
        daemonSelection = false
        return guestPort == .open ? [.toGuest(AgentWire.clientDisconnectedChunk)] : []
    }

    /// Bytes the daemon wrote toward the guest.
    public mutating func daemonSent(_ bytes: ArraySlice<UInt8>) -> [Output] {
        guard daemonAttached else { return [] }
        let messages: [AgentMessageReader.Message]
        do {
            messages = try fromDaemon.feed(bytes)
        } catch {
            return [.dropDaemon(reason: "it broke the agent's framing (\(error)); nothing of it was passed on")] + forgetDaemon()
        }
        var out: [Output] = []
        for message in messages {
            guard let bytes = message.bytes else { continue }
            if message.type == AgentWire.announceCapabilities {
                daemonSelection = Self.announcesSelection(bytes)
                if Self.requestsAnswer(bytes) { daemonReset = bytes }
            }
            guard guestPort == .open else { continue }
            out.append(.toGuest(AgentWire.chunks(message: bytes, port: message.port)))
        }
        return out
    }

    // MARK: The guest's side

    /// Bytes the guest's agent wrote: the daemon's when one is attached.
    public mutating func guestSent(_ bytes: [UInt8]) -> [Output] {
        var out: [Output] = daemonAttached ? [.toDaemon(bytes)] : []
        guard !guestFramingLost else { return out }
        do {
            for message in try fromGuest.feed(bytes[...]) {
                guard let body = message.bytes?.dropFirst(AgentWire.messageHeaderSize) else { continue }
                if message.type == AgentWire.announceCapabilities {
                    guestSelection = Self.announcesSelection(message.bytes!)
                } else if message.type == AgentWire.clipboardRequest, !daemonAttached, guestPort == .open {
                    out.append(.toGuest(refusal(ofRequest: Array(body))))
                }
            }
        } catch {
            guestFramingLost = true
            out.append(.log("cannot follow the agent's messages (\(error)); passing its bytes on unread until its port reopens"))
        }
        return out
    }

    /// The guest's end of the port opened or closed (QEMU's VSERPORT_CHANGE): a closed port
    /// lets the daemon go and purges what was queued for the agent that closed it.
    public mutating func guestPortChanged(open: Bool) -> [Output] {
        guard open != (guestPort == .open) else { return [] }
        guestPort = open ? .open : .closed
        fromGuest.reset()
        guestFramingLost = false
        guestSelection = false
        guard !open else {
            var out: [Output] = [.log("the guest's agent opened its port")]
            if daemonAttached, let daemonReset {
                out.append(.toGuest(AgentWire.clientDisconnectedChunk + AgentWire.chunks(message: daemonReset, port: AgentWire.serverPort)))
            }
            return out
        }
        var out: [Output] = [.log("the guest's agent closed its port"), .purgeGuest]
        if daemonAttached {
            out.append(.dropDaemon(reason: "the guest's agent closed its port; a new session starts when it opens again"))
            out += forgetDaemon()  // the port is closed now: no word to it
        }
        return out
    }

    /// The connection to QEMU's socket was made again (the VM started, or the holder
    /// purged it): the guest's side starts from a chunk boundary. `guestPort` is what is
    /// known of the port now, when a new QEMU started.
    public mutating func guestConnectionRestarted(guestPort: GuestPort? = nil) {
        fromGuest.reset()
        guestFramingLost = false
        if let guestPort { self.guestPort = guestPort }
    }

    // MARK: Helpers

    /// CLIPBOARD with type NONE and no data for the request whose body is `body`.
    private func refusal(ofRequest body: [UInt8]) -> [UInt8] {
        let prefixed = daemonSelection && guestSelection
        var reply: [UInt8] = prefixed ? Array(body.prefix(4)) : []
        if prefixed && reply.count < 4 { reply += [UInt8](repeating: 0, count: 4 - reply.count) }
        reply.appendWireU32(0)
        return AgentWire.chunks(message: AgentWire.message(type: AgentWire.clipboard, body: reply), port: AgentWire.clientPort)
    }

    /// Whether an ANNOUNCE_CAPABILITIES message (header and body) asks for an answer.
    private static func requestsAnswer(_ message: [UInt8]) -> Bool {
        message.count >= AgentWire.messageHeaderSize + 4 && message.littleEndianU32(at: AgentWire.messageHeaderSize) == 1
    }

    /// Whether an ANNOUNCE_CAPABILITIES message (header and body) has CLIPBOARD_SELECTION.
    private static func announcesSelection(_ message: [UInt8]) -> Bool {
        let firstWord = AgentWire.messageHeaderSize + 4
        guard message.count >= firstWord + 4 else { return false }
        return message.littleEndianU32(at: firstWord) & (1 << UInt32(AgentWire.selectionCapability)) != 0
    }
}
