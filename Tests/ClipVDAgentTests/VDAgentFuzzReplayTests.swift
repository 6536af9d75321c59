import ClipTestSupport
import ClipVDAgent
import Foundation
import Testing

/// The fuzz step (`make fuzz` runs it under libFuzzer for minutes) over its seeds and a few
/// thousand deterministic mutations of them, so every `make test` exercises it too.
@Suite("SPICE agent: fuzz step replay")
struct VDAgentFuzzReplayTests {
    static let seedDirectory = VectorFile.packageRoot.appendingPathComponent("Tests/Fuzz/vdagent-seeds").path

    /// A small deterministic generator (xorshift), so a failure names a reproducible case.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }
    }

    @Test func seedsAndTheirMutationsKeepTheInvariants() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.seedDirectory).sorted()
        #expect(names.count >= 5)
        let seeds = try names.map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(Self.seedDirectory)/\($0)"))) }
        var random = Generator(state: 0x9e37_79b9_7f4a_7c15)
        for seed in seeds { seed.withUnsafeBytes { VDAgentFuzzing.run($0) } }
        for _ in 0..<3000 {
            var input = seeds[random.below(seeds.count)]
            for _ in 0...random.below(4) {
                switch random.below(4) {
                case 0 where !input.isEmpty: input[random.below(input.count)] ^= UInt8(1 << random.below(8))
                case 1 where !input.isEmpty: input.removeSubrange(random.below(input.count)..<input.count)
                case 2: input.insert(contentsOf: (0..<random.below(16)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: random.below(input.count + 1))
                default: input += seeds[random.below(seeds.count)].dropFirst()
                }
            }
            input.withUnsafeBytes { VDAgentFuzzing.run($0) }
        }
    }
}
