/// The one reconnect policy: waits that start at `first` and double after each failed
/// attempt up to `maximum`, back to `first` once a connection counts as working. Every
/// link of the daemon (dialers, VM and agent channels) and the desktop's reconnect use it.
///
/// A value type; safe to share between threads.
public struct Backoff: Sendable, Equatable {
    public let first: Duration
    public let maximum: Duration
    /// The wait before the next attempt.
    public private(set) var current: Duration

    public init(first: Duration, maximum: Duration) {
        self.first = first
        self.maximum = maximum
        current = first
    }

    /// The wait before the next attempt; the one after it is twice as long (up to `maximum`).
    public mutating func next() -> Duration {
        let wait = current
        current = min(current * 2, maximum)
        return wait
    }

    /// A connection worked: the next wait is `first` again.
    public mutating func reset() { current = first }
}

extension Duration {
    /// Whole nanoseconds (for timers that count them).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
