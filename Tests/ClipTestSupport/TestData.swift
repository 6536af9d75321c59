/// Deterministic test data, generated fast enough for tens of MiB in a debug build.
public enum TestData {
    /// Bytes that never repeat within a chunk: a pseudo-random sequence.
    public static func pattern(_ count: Int, seed: UInt64 = 0x9e37_79b9_7f4a_7c15) -> [UInt8] {
        var state = seed
        var out = [UInt8](repeating: 0, count: count + 8)
        out.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < count {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                raw.storeBytes(of: (state >> 17) ^ state, toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
        }
        out.removeLast(out.count - count)
        return out
    }

    /// Text of `count` bytes made of words and line breaks, like a large log or document.
    public static func text(_ count: Int) -> [UInt8] {
        let words = ["clipboard", "sync", "item", "chunk", "peer", "relay", "host", "guest", "laptop", "paste",
                     "copy", "delta", "window", "record"].map { Array($0.utf8) }
        var state: UInt64 = 42
        var out = [UInt8](repeating: 0, count: count + 16)
        var offset = 0
        out.withUnsafeMutableBufferPointer { buffer in
            while offset < count {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                for byte in words[Int(state >> 33) % words.count] {
                    buffer[offset] = byte
                    offset += 1
                }
                buffer[offset] = state & 0xf0 == 0 ? 0x0a : 0x20
                offset += 1
            }
        }
        out.removeLast(out.count - count)
        return out
    }
}
