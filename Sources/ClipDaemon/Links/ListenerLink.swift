import NIOCore

/// A listening socket: peers' TCP connections (`listen`), or QEMU connecting to a VM or
/// agent channel (`unix-listen:PATH`). Bound before it is added; each accepted connection
/// gets the handler its transport puts on it.
///
/// Immutable; made off the loop (binding waits on the kernel) and handed to it.
final class ListenerLink: Link, Sendable {
    let key: LinkKey
    let channel: Channel
    /// Where it listens, for people ("127.0.0.1:7439", "unix-listen:/run/vm/clipd.sock").
    let bound: String

    init(key: LinkKey, channel: Channel, bound: String) {
        self.key = key
        self.channel = channel
        self.bound = bound
    }

    func stop() -> [Channel] { [channel] }
}
