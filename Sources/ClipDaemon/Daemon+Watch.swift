import ClipSync
import ClipboardBackends
import ClipWire
import NIOCore

/// A `clipd recv --watch` client. One event streams at a time; one that comes meanwhile
/// waits (a newer one replaces it: the watcher sees the latest).
final class Watcher {
    /// What a watcher is told: an item, or that the selection is empty.
    enum Event {
        case item(ItemHeader, held: ClipItem?)
        /// `nil`: empty when the watch began; `clear`: the desktop's selection was emptied.
        case empty(state: String)
    }

    let connection: ControlConnection
    let selection: Selection
    let mimeType: String?
    var streaming = false
    var queued: Event?

    init(connection: ControlConnection, selection: Selection, mimeType: String?) {
        self.connection = connection
        self.selection = selection
        self.mimeType = mimeType
    }
}

/// Watch events (protocol/control.md): each carries CLIPBOARD_STATE's value (data,
/// sensitive, nil, clear), the MIME type and who copied the item.
extension Daemon {
    func handleWatch(_ request: ControlRequest, client: ControlConnection) throws {
        let selection = try selection(of: request)
        let watcher = Watcher(connection: client, selection: selection, mimeType: request.mimeType)
        watchers[ObjectIdentifier(client)] = watcher
        client.reply(ControlResponse(ok: true))
        // `recv --watch CMD` runs CMD for the state at start too, as wl-paste does.
        guard request.current == true else { return }
        if let header = engine.currentHeader(selection) {
            watcher.queued = .item(header, held: engine.currentItem(selection))
        } else {
            watcher.queued = .empty(state: "nil")
        }
        streamNextEvent(watcher)
    }

    /// Every watcher of the item's selection gets it as an event (its bytes fetched first
    /// when they are not here).
    func notifyWatchers(_ header: ItemHeader, held: ClipItem?) {
        notifyWatchers(header.selection, .item(header, held: held))
    }

    /// The desktop's selection was emptied: watchers hear `clear`. clipd keeps its item (a
    /// clear is not synced).
    func desktopCleared(_ selection: Selection) {
        logger.debug("the desktop's \(selection) was cleared")
        notifyWatchers(selection, .empty(state: "clear"))
    }

    private func notifyWatchers(_ selection: Selection, _ event: Watcher.Event) {
        for watcher in watchers.values where watcher.selection == selection {
            watcher.queued = event
            streamNextEvent(watcher)
        }
    }

    /// Who copied an item, for people: "this device", a peer's or a guest agent's name.
    func originName(of header: ItemHeader) -> String {
        if header.id.origin == identity.deviceID { return "this device" }
        if let peer = peers.peer(id: header.id.origin) { return peer.name }
        if let agent = agentSessions.values.first(where: { $0.bridge.guestDevice == header.id.origin }) { return agent.name }
        return header.id.origin.short
    }

    private func streamNextEvent(_ watcher: Watcher) {
        guard !watcher.streaming, let event = watcher.queued else { return }
        watcher.queued = nil
        switch event {
        case .empty(let state):
            var head = ControlResponse(ok: true)
            head.state = state
            watcher.connection.reply(head)
        case .item(let item, let held):
            let (header, content) = desktopView(of: item, held: held)
            guard let representation = try? chooseRepresentation(header, mimeType: watcher.mimeType) else { return }
            let secret = header.representations.contains { $0.mimeType == ClipboardPolicy.passwordHint }
            watcher.streaming = true
            ControlItemStream(loop: loop, client: watcher.connection, header: header, representation: representation, content: content, last: false,
                              state: secret ? "sensitive" : "data", origin: originName(of: item)) { [self] in
                watcher.streaming = false
                streamNextEvent(watcher)
            }.start()
        }
    }
}
