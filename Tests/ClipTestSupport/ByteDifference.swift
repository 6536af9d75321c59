/// Nil when `actual` and `expected` are the same bytes, else one line saying how they
/// differ: for expectations on large buffers, where a failing `==` would have the test
/// library compute an element-by-element difference of millions of bytes.
public func byteDifference<A: Collection, B: Collection>(_ actual: A, _ expected: B) -> String?
where A.Element == UInt8, B.Element == UInt8 {
    if actual.elementsEqual(expected) { return nil }
    var offset = 0
    for (x, y) in zip(actual, expected) {
        if x != y { break }
        offset += 1
    }
    return "\(actual.count) bytes where \(expected.count) were expected; they first differ at offset \(offset)"
}
