import Foundation

/// The attack tests' figures for `make attack`: the attacks of the security review, run
/// against live daemons at full size (`CLIPD_ATTACK` set) or at the bounded size `make
/// test` uses, each adding a line to the report (`CLIPD_ATTACK_REPORT`, when set) saying
/// what was tried, what was measured, and whether the bound held.
///
/// Thread-safe: each line is one `write` to a file opened for appending.
public enum AttackReport {
    /// Whether this is `make attack` (full size) rather than `make test`.
    public static var fullSize: Bool { ProcessInfo.processInfo.environment["CLIPD_ATTACK"] != nil }

    /// `attack` under `make attack`, `test` otherwise.
    public static func size(test: Int, attack: Int) -> Int { fullSize ? attack : test }

    /// Adds `attack: figures: held|BROKEN` to the report, if one is being written.
    public static func record(_ attack: String, _ figures: String, held: Bool) {
        guard let path = ProcessInfo.processInfo.environment["CLIPD_ATTACK_REPORT"] else { return }
        let line = Array("\(held ? "held  " : "BROKEN") \(attack): \(figures)\n".utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
