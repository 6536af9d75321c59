import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Every figure of a run, and the machine's own limits measured in the same run, written
/// to BENCHMARKS.md at the end so that each figure stands next to what this machine could
/// do at best.
final class BenchTable: @unchecked Sendable {
    // The benchmark runs on one thread (its main); the class only gathers rows.
    struct Row {
        let group: String
        let name: String
        let value: String
        let target: String
        let ok: Bool
        let reference: String
    }

    static let shared = BenchTable()
    private(set) var rows: [Row] = []
    /// The machine's limits by name ("aes", "tcp", "xclip"), with how they were measured.
    private var references: [String: (value: Double, text: String)] = [:]
    var group = "core"

    func add(_ row: Row) { rows.append(row) }

    func setReference(_ key: String, value: Double, text: String) { references[key] = (value, text) }

    func reference(_ key: String) -> (value: Double, text: String)? { references[key] }

    /// "x of the reference": `measured` against reference `key` (larger is better when
    /// `higherIsBetter`).
    func ratio(_ measured: Double, to key: String, unit: String, higherIsBetter: Bool = true) -> String {
        guard let reference = references[key], reference.value > 0, measured > 0 else { return "" }
        let ratio = higherIsBetter ? measured / reference.value : reference.value / measured
        return String(format: "%@ %@; ratio %.2f", reference.text, unit, ratio)
    }

    /// BENCHMARKS.md: the machine, the command, then one table per group.
    func write(to path: String) {
        var text = "# clipd benchmark figures\n\n"
        text += "Written by `make bench` (`Benchmarks/clipd-bench`, release build) on \(Self.isoDate()).\n"
        if let only = ProcessInfo.processInfo.environment["CLIPD_BENCH_ONLY"], !only.isEmpty {
            text += "Groups run: `CLIPD_BENCH_ONLY=\(only)`; the others keep no figures here.\n"
        }
        text += "\nMachine: \(Self.machine())\n\n"
        text += "Each figure stands next to this machine's own limit measured in the same run, so the distance to the limit shows as a ratio (1.00 = at the limit):\n\n"
        for (key, value) in references.sorted(by: { $0.key < $1.key }) { text += "- \(key): \(value.text)\n" }
        var groups: [String] = []
        for row in rows where !groups.contains(row.group) { groups.append(row.group) }
        for group in groups {
            text += "\n## \(group)\n\n| figure | measured | target | | machine's limit |\n| --- | --- | --- | --- | --- |\n"
            for row in rows where row.group == group {
                let context = row.target.contains("context")
                text += "| \(row.name) | \(row.value) | \(context ? "—" : row.target) | \(context ? "" : row.ok ? "met" : "**missed**") | \(row.reference) |\n"
            }
        }
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    static func machine() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        let notable = ["aes", "sha_ni", "avx2", "avx512f", "vaes", "vpclmulqdq"].filter(flags.contains)
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let memory = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?.split(separator: "\n").first?.split(separator: " ").dropFirst().first ?? "?"
        let gib = (Double(memory) ?? 0) / 1_048_576
        return "\(model), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores (\(notable.joined(separator: ", "))), \(String(format: "%.0f", gib)) GiB, Linux \(release)"
    }

    static func isoDate() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: Date())
    }
}
