#if canImport(Glibc)
import Glibc
#endif

/// Nil when `actual` and `expected` are the same bytes, else one line saying how they
/// differ: for expectations on large buffers, where a failing `==` would have the test
/// library compute an element-by-element difference of millions of bytes.
public func byteDifference<A: Collection, B: Collection>(_ actual: A, _ expected: B) -> String?
where A.Element == UInt8, B.Element == UInt8 {
    // Contiguous buffers compare with memcmp: an element loop in this debug-built module
    // took seconds for tens of MiB.
    let same = actual.withContiguousStorageIfAvailable { a in
        expected.withContiguousStorageIfAvailable { b in a.count == b.count && (a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) }
    }
    if let same = same ?? nil {
        if same { return nil }
    } else if actual.elementsEqual(expected) {
        return nil
    }
    var offset = 0
    for (x, y) in zip(actual, expected) {
        if x != y { break }
        offset += 1
    }
    return "\(actual.count) bytes where \(expected.count) were expected; they first differ at offset \(offset)"
}
