import ClipSync
import ClipWire
import NIOCore

/// Dials a paired peer that has a network address, with the reconnect policy's back-off
/// while it is unreachable. Wanted only while the peer has no session: at rest (every peer
/// connected) no timer runs.
///
/// Confined to the daemon's event loop.
final class PeerDialer: Link {
    /// The first wait after a failed dial, and the longest.
    static let backoff = Backoff(first: .milliseconds(250), maximum: .seconds(30))

    let peer: DeviceID
    var key: LinkKey { .dialer(peer) }
    let connection: ReconnectingLink
    /// Handshakes the peer refused since the last session (our keys are stale there).
    var rejections = 0

    init(peer: DeviceID, connection: ReconnectingLink) {
        self.peer = peer
        self.connection = connection
    }

    /// A session with the peer is up (dialled or accepted).
    func connected() {
        rejections = 0
        connection.succeeded()
    }

    func stop() -> [Channel] { [] }  // its connection is a session, closed by its owner
}
