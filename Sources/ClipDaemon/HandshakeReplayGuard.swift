import ClipWire
import Foundation

/// Noise message 1's timestamps (nanoseconds since the epoch), both ways: the ones this
/// daemon sends only ever grow, and one received must be newer than the last that led to a
/// session with its peer, and not far ahead of this clock (protocol/protocol.md, replays).
///
/// A value owned by the daemon on its event loop.
struct HandshakeReplayGuard {
    /// How far past this machine's clock a handshake timestamp may be: 5 minutes.
    static let allowedAhead: UInt64 = 5 * 60 * 1_000_000_000

    private var newest: [DeviceID: UInt64] = [:]
    private var lastIssued: UInt64 = 0
    private let now: () -> UInt64

    init(now: @escaping () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000_000)) }) { self.now = now }

    /// A timestamp for our message 1, later than every one issued before.
    mutating func issue() -> UInt64 {
        lastIssued = max(now(), lastIssued + 1)
        return lastIssued
    }

    /// Why message 1 with this timestamp from `peer` must be dropped, or nil. A timestamp
    /// far ahead, once recorded, would lock the peer out until then, so it is refused.
    func problem(with timestamp: UInt64, from peer: DeviceID) -> String? {
        if let last = newest[peer], timestamp <= last { return "a replayed handshake" }
        let now = now()
        if timestamp > now + Self.allowedAhead {
            return "a handshake stamped \((timestamp - now) / 1_000_000_000) s ahead of this machine's clock (more than 5 minutes): fix the clocks"
        }
        return nil
    }

    /// Records a timestamp once its handshake proved the PSK (the session's first record
    /// authenticated): a message 1 from someone without the PSK leaves nothing behind.
    mutating func record(_ timestamp: UInt64, from peer: DeviceID) {
        newest[peer] = max(timestamp, newest[peer] ?? 0)
    }
}
