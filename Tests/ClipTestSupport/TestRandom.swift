/// A small deterministic generator (xorshift) for tests that draw many random cases, so a
/// failure names a reproducible one.
public struct TestRandom {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// A number in 0 ..< bound (0 when bound is 0 or less).
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }
}
