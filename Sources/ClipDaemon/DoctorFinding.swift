/// One thing `clipd doctor` found: fine, worth knowing, or a problem with its fix.
///
/// A value type; safe to share between threads.
public struct DoctorFinding: Sendable, Equatable {
    public enum Level: String, Sendable {
        case ok, note, problem
    }

    public let level: Level
    public let text: String
    /// What to do about it, for notes and problems.
    public let fix: String?

    public init(_ level: Level, _ text: String, fix: String? = nil) {
        self.level = level
        self.text = text
        self.fix = fix
    }

    /// The line people read: the level padded to one width, the finding, then the fix.
    public var line: String {
        let label = level.rawValue + String(repeating: " ", count: 8 - level.rawValue.count)
        return label + text + (fix.map { "; fix: \($0)" } ?? "")
    }

    /// How a finding crosses the control socket: level, text and fix separated by tabs.
    var encoded: String { [level.rawValue, text, fix ?? ""].joined(separator: "\t") }

    /// The finding an `encoded` line carries, or nil for a line that is not one.
    public init?(encoded: String) {
        let parts = encoded.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let level = Level(rawValue: parts[0]) else { return nil }
        self.init(level, parts[1], fix: parts[2].isEmpty ? nil : parts[2])
    }
}
