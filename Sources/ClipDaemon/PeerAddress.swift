/// Where a paired peer is reached: a network address to dial, or, for a guest, the host
/// at the other end of this guest's VM channel. Stored in peers.toml as the address text,
/// and the host over the channel as `virtio` (the name `clipd pair CODE virtio` uses).
///
/// A value type; safe to share between threads.
public enum PeerAddress: Sendable, Hashable, CustomStringConvertible {
    /// HOST:PORT (or `[V6]:PORT`, or a host alone), dialled over TCP.
    case network(String)
    /// The host, reached over this guest's VM channel.
    case hostChannel

    /// How the host over a guest's VM channel is written, in peers.toml and as a pairing target.
    public static let hostChannelName = "virtio"

    /// The address as stored or typed.
    public init(_ text: String) { self = text == Self.hostChannelName ? .hostChannel : .network(text) }

    public var description: String {
        switch self {
        case .network(let address): address
        case .hostChannel: Self.hostChannelName
        }
    }
}
