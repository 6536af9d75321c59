import ClipWire
import NIOCore

/// What a link is, to find it again (a reload's diff, `passvm` detaching its VM): a peer
/// listener by its `listen` entry, a VM or agent channel by its address and what speaks on
/// it, a dialer by the peer it dials. Typed: no address is a sentinel string.
enum LinkKey: Hashable, Sendable {
    case listener(String)
    case channel(VirtioChannel, ChannelKind)
    case dialer(DeviceID)
}

/// One way this daemon reaches others or is reached by them: a listening socket
/// (`ListenerLink`), or a connection kept open with the one reconnect policy
/// (`ReconnectingLink`, inside `ChannelLink` and `PeerDialer`). Every link is added,
/// stopped and found the same way, through the `LinkSet` that owns it.
///
/// Confined to the daemon's event loop.
protocol Link: AnyObject {
    var key: LinkKey { get }
    /// Stops for good: timers cancelled, nothing opened again. Returns the channels to close.
    func stop() -> [Channel]
}

/// Every link of the daemon, in the order they were added.
///
/// Confined to the daemon's event loop.
final class LinkSet {
    private(set) var all: [Link] = []

    func add(_ link: Link) { all.append(link) }

    func link(_ key: LinkKey) -> Link? { all.first { $0.key == key } }

    func contains(_ key: LinkKey) -> Bool { link(key) != nil }

    /// Takes a link out and stops it; its channels are closed.
    @discardableResult
    func remove(_ key: LinkKey) -> Link? {
        guard let index = all.firstIndex(where: { $0.key == key }) else { return nil }
        let link = all.remove(at: index)
        for channel in link.stop() { channel.close(promise: nil) }
        return link
    }

    /// Stops every link; returns the channels to close.
    func stopAll() -> [Channel] { all.flatMap { $0.stop() } }

    /// Sockets accepting peers.
    var peerListeners: [ListenerLink] { all.compactMap { $0 as? ListenerLink }.filter { if case .listener = $0.key { true } else { false } } }
    /// Channels kept attached, of every kind.
    var channels: [ChannelLink] { all.compactMap { $0 as? ChannelLink } }
    /// Channels kept attached, of one kind.
    func channels(_ kind: ChannelKind) -> [ChannelLink] { channels.filter { $0.kind == kind } }
    /// Sockets where QEMU connects, for channels of one kind.
    func channelListeners(_ kind: ChannelKind) -> [ListenerLink] {
        all.compactMap { $0 as? ListenerLink }.filter { if case .channel(_, kind) = $0.key { true } else { false } }
    }
    func dialer(_ id: DeviceID) -> PeerDialer? { link(.dialer(id)) as? PeerDialer }
}
