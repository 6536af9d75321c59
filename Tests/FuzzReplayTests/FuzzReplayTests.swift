import ClipFuzzTargets
import ClipTestSupport
import Foundation
import Testing

/// Every fuzz target (`make fuzz` runs them under libFuzzer for minutes) over its seeds —
/// generated ones, the files in Tests/Fuzz/seeds/TARGET, every crash ever found among them —
/// and a few thousand deterministic mutations, so each `make test` exercises them too.
@Suite("Fuzz targets: seed and mutation replay")
struct FuzzReplayTests {
    static let seedRoot = VectorFile.packageRoot.appendingPathComponent("Tests/Fuzz/seeds").path


    static func seeds(_ target: String) throws -> [[UInt8]] {
        let directory = seedRoot + "/" + target
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        return try names.map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(directory)/\($0)"))) } + FuzzSeeds.generated(for: target)
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func seedsAndTheirMutationsKeepTheInvariants(target name: String) throws {
        let target = try #require(FuzzTargets.target(named: name))
        let seeds = try Self.seeds(name)
        #expect(!seeds.isEmpty, "no seeds for \(name)")
        var random = TestRandom(state: 0x9e37_79b9_7f4a_7c15 ^ name.utf8.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1) })
        for seed in seeds { seed.withUnsafeBytes { target.run($0) } }
        let rounds = name == "pairing" || name == "noise" ? 300 : 2000
        for _ in 0..<rounds {
            var input = seeds[random.below(seeds.count)]
            for _ in 0...random.below(4) {
                switch random.below(4) {
                case 0 where !input.isEmpty: input[random.below(input.count)] ^= UInt8(1 << random.below(8))
                case 1 where !input.isEmpty: input.removeSubrange(random.below(input.count)..<input.count)
                case 2: input.insert(contentsOf: (0..<random.below(16)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: random.below(input.count + 1))
                default: input += seeds[random.below(seeds.count)].dropFirst()
                }
            }
            input.withUnsafeBytes { target.run($0) }
        }
    }
}
