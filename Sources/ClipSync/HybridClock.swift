import ClipWire

/// A hybrid logical clock (Kulkarni et al.): readings follow wall time but never go
/// backwards and always move past every reading received from a peer, so an item created
/// after seeing another is always ordered after it, whatever the machines' clocks say.
public struct HybridClock: Sendable {
    public private(set) var last = HybridTimestamp(rawValue: 0)
    private let wallMilliseconds: @Sendable () -> UInt64

    /// - Parameter wallMilliseconds: the wall clock in milliseconds since the Unix epoch.
    public init(wallMilliseconds: @escaping @Sendable () -> UInt64) {
        self.wallMilliseconds = wallMilliseconds
    }

    /// A reading for a local event, greater than every earlier reading.
    public mutating func tick() -> HybridTimestamp {
        let now = wallMilliseconds()
        if now > last.milliseconds {
            last = HybridTimestamp(milliseconds: now, logical: 0)
        } else {
            last = Self.successor(of: last)
        }
        return last
    }

    /// Merges a reading received from a peer.
    public mutating func observe(_ remote: HybridTimestamp) {
        let now = wallMilliseconds()
        let top = max(now, last.milliseconds, remote.milliseconds)
        if top == last.milliseconds && top == remote.milliseconds {
            last = Self.successor(of: max(last, remote))
        } else if top == last.milliseconds {
            last = Self.successor(of: last)
        } else if top == remote.milliseconds {
            last = Self.successor(of: remote)
        } else {
            last = HybridTimestamp(milliseconds: top, logical: 0)
        }
    }

    private static func successor(of t: HybridTimestamp) -> HybridTimestamp {
        // The logical part overflowing into the milliseconds keeps the order total.
        HybridTimestamp(rawValue: t.rawValue &+ 1)
    }
}
