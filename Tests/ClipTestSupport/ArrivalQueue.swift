import Foundation

/// Values handed over from another thread (a backend's callbacks) to a test that waits for
/// them in order.
///
/// Threading: `append` and `next` may be called from any thread; a condition lock guards
/// the queue, which is what makes the unchecked conformance sound.
public final class ArrivalQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []

    public init() {}

    public func append(_ item: Element) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// The oldest value not yet taken, waiting up to `timeout` seconds; nil on timeout.
    public func next(timeout: Double) -> Element? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty {
            guard condition.wait(until: deadline) else { return nil }
        }
        return items.removeFirst()
    }

    /// The first value that `matches`, waiting up to `timeout` seconds in all; values before
    /// it are dropped. Nil on timeout.
    public func first(timeout: Double, where matches: (Element) -> Bool) -> Element? {
        let deadline = Date().addingTimeInterval(timeout)
        while let value = next(timeout: deadline.timeIntervalSinceNow) {
            if matches(value) { return value }
        }
        return nil
    }
}
