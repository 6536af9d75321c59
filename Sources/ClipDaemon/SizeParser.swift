import Foundation

/// Parses sizes written by people: plain bytes or with a suffix K, M, G, KiB, MiB, GiB
/// (all powers of 1024), e.g. `64MiB`, `512K`, `1048576`.
public enum SizeParser {
    public static func parse(_ text: String) throws -> UInt64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber }
        let suffix = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard let number = UInt64(digits), !digits.isEmpty else { throw DaemonError("invalid size '\(text)': expected a number with an optional K, M, G, KiB, MiB or GiB suffix") }
        let multiplier: UInt64
        switch suffix {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1 << 10
        case "m", "mb", "mib": multiplier = 1 << 20
        case "g", "gb", "gib": multiplier = 1 << 30
        default: throw DaemonError("invalid size '\(text)': unknown suffix '\(suffix)'")
        }
        let (value, overflow) = number.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw DaemonError("invalid size '\(text)': too large") }
        return value
    }

    /// A compact human form: 1536 -> "1.5 KiB".
    public static func format(_ bytes: UInt64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", value, units[unit])
    }
}
