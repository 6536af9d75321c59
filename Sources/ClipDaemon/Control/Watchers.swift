import ClipSync
import ClipboardBackends
import ClipWire
import NIOCore

/// What a watch event needs of the rest of the daemon: the item as this machine sees it,
/// and who copied it. Called on the daemon's event loop.
protocol WatchHost: AnyObject {
    /// The item as this machine's desktop and readers see it (`Daemon.localView`).
    func localView(of header: ItemHeader, held: ClipItem?) -> (header: ItemHeader, content: ItemContent)
    /// Who copied an item, for people: "this device", a peer's or a guest agent's name.
    func originName(of header: ItemHeader) -> String
}

/// The `clipd recv --watch` clients (protocol/control.md): each is told of every new item
/// of its selection and of the desktop's selection being emptied. An event carries
/// CLIPBOARD_STATE's value (data, sensitive, nil, clear), the MIME type and who copied the
/// item. One event streams to a client at a time; one that comes meanwhile waits, and a
/// newer one replaces it, so a slow watcher sees the latest.
///
/// Confined to the daemon's event loop.
final class Watchers {
    /// What a watcher is told: an item, or that the selection is empty.
    enum Event {
        case item(ItemHeader, held: ClipItem?)
        /// `nil`: empty when the watch began; `clear`: the desktop's selection was emptied.
        case empty(state: String)
    }

    private final class Watcher {
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

    private let loop: EventLoop
    private unowned let host: WatchHost
    private var watchers: [ObjectIdentifier: Watcher] = [:]

    init(loop: EventLoop, host: WatchHost) {
        self.loop = loop
        self.host = host
    }

    /// How many clients watch.
    var count: Int { watchers.count }

    /// `client` watches `selection` from now on (answered `ok` at once). With `current`
    /// (`recv --watch CMD`, which runs CMD for the state at start too, as wl-paste does),
    /// it is first told what the selection holds: `now`, or that it is empty.
    func add(_ client: ControlConnection, selection: Selection, mimeType: String?, current: Bool, now: (ItemHeader, held: ClipItem?)?) {
        let watcher = Watcher(connection: client, selection: selection, mimeType: mimeType)
        watchers[ObjectIdentifier(client)] = watcher
        client.reply(ControlResponse(ok: true))
        guard current else { return }
        watcher.queued = now.map { .item($0.0, held: $0.held) } ?? .empty(state: "nil")
        streamNextEvent(watcher)
    }

    /// The client went away.
    func remove(_ client: ControlConnection) { watchers[ObjectIdentifier(client)] = nil }

    /// Every watcher of the event's selection is told.
    func notify(_ selection: Selection, _ event: Event) {
        for watcher in watchers.values where watcher.selection == selection {
            watcher.queued = event
            streamNextEvent(watcher)
        }
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
            let (header, content) = host.localView(of: item, held: held)
            guard let representation = try? ControlItemStream.representation(of: header, mimeType: watcher.mimeType) else { return }
            let secret = header.representations.contains { $0.mimeType == ClipboardPolicy.passwordHint }
            watcher.streaming = true
            ControlItemStream(loop: loop, client: watcher.connection, header: header, representation: representation, content: content, last: false,
                              state: secret ? "sensitive" : "data", origin: host.originName(of: item)) { [self] in
                watcher.streaming = false
                streamNextEvent(watcher)
            }.start()
        }
    }
}
