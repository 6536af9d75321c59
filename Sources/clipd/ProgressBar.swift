import ClipDaemon
import Foundation

/// A one-line progress bar on standard error, redrawn in place, for transfers a person
/// waits on. Draws nothing unless standard error is a terminal; redraws at most ten times
/// a second.
final class ProgressBar {
    private let label: String
    private let total: UInt64?
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false
    let enabled: Bool

    /// `total` nil: the size is not known (standard input still being read).
    init(label: String, total: UInt64?, minimum: UInt64 = 1 << 20) {
        self.label = label
        self.total = total
        enabled = isatty(2) == 1 && (total.map { $0 >= minimum } ?? true)
    }

    func update(_ done: UInt64) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        draw(done)
    }

    /// Draws the final state and ends the line.
    func finish(_ done: UInt64) {
        guard enabled, drawn || Date().timeIntervalSince(start) >= 0.1 else { return }
        draw(done)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    /// Clears the line (before an error message).
    func clear() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
    }

    private func draw(_ done: UInt64) {
        drawn = true
        let seconds = max(Date().timeIntervalSince(start), 0.001)
        let rate = "\(SizeParser.format(UInt64(Double(done) / seconds)))/s"
        var line = "\(label) "
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            line += String(format: "%3d%% ", Int(fraction * 100)) + "\(SizeParser.format(done)) of \(SizeParser.format(total)), \(rate)"
        } else {
            line += "\(SizeParser.format(done)), \(rate)"
        }
        FileHandle.standardError.write(Data("\r\u{1b}[K\(line)".utf8))
    }
}
