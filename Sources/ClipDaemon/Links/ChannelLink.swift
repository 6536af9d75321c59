import ClipSync
import NIOCore

/// What speaks on a VM channel: clipd's own protocol (a `PeerConnection`), or the SPICE
/// agent protocol for a guest's stock agent (a `VDAgentConnection`).
enum ChannelKind: Sendable, Hashable {
    case clipd
    case spiceAgent

    /// The option that configures it, for messages.
    var option: String { self == .clipd ? "--virtio" : "--vdagent" }
    /// What a channel of this kind is called in logs and answers.
    var label: String { self == .clipd ? "VM channel" : "SPICE agent channel" }
}

/// One end of a VM channel this daemon keeps attached (QEMU's chardev socket, or a guest's
/// own port device): the reconnect policy reopens it and puts a connection of its kind on
/// it each time. The connection does the talking; the link only decides when to try again.
///
/// Confined to the daemon's event loop.
final class ChannelLink: Link {
    /// A new attempt soon after a working attach ended (the other end restarted); longer,
    /// doubling waits while the other end is away.
    static let backoff = Backoff(first: .milliseconds(100), maximum: .seconds(5))
    /// An attach that lasted this long counts as working.
    static let workingAttach = TimeAmount.seconds(2)

    let channel: VirtioChannel
    let kind: ChannelKind
    var key: LinkKey { .channel(channel, kind) }
    let connection: ReconnectingLink

    init(channel: VirtioChannel, kind: ChannelKind, connection: ReconnectingLink) {
        self.channel = channel
        self.kind = kind
        self.connection = connection
    }

    func stop() -> [Channel] { connection.stop().map { [$0] } ?? [] }
}
