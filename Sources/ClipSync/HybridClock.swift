import ClipWire

/// A hybrid logical clock (Kulkarni et al.): readings follow wall time but never go
/// backwards and always move past every reading received from a peer, so an item created
/// after seeing another is always ordered after it, whatever the machines' clocks say.
///
/// A reading more than `maximumAhead` past the wall clock is refused, not merged: a peer
/// (or its broken clock) could otherwise push every later copy on every machine into its
/// future, or to the end of the counter's range where nothing newer could be made.
public struct HybridClock: Sendable {
    /// How far past the wall clock a received reading may be: 5 minutes, in milliseconds.
    public static let maximumAhead: UInt64 = 5 * 60 * 1000

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

    /// Whether a reading received from a peer is within `maximumAhead` of the wall clock.
    public func accepts(_ remote: HybridTimestamp) -> Bool {
        remote.milliseconds <= wallMilliseconds() + Self.maximumAhead
    }

    /// Merges a reading received from a peer; false (and the clock unchanged) when it is
    /// more than `maximumAhead` in the future.
    @discardableResult
    public mutating func observe(_ remote: HybridTimestamp) -> Bool {
        let now = wallMilliseconds()
        guard remote.milliseconds <= now + Self.maximumAhead else { return false }
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
        return true
    }

    private static func successor(of t: HybridTimestamp) -> HybridTimestamp {
        // The logical part overflowing into the milliseconds keeps the order total. Readings
        // stay within `maximumAhead` of the wall clock, so the counter never reaches its end;
        // if a wall clock ever did, the reading would stop there rather than wrap to zero.
        HybridTimestamp(rawValue: t.rawValue == .max ? .max : t.rawValue + 1)
    }
}
