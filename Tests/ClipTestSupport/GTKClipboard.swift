import Foundation

/// Real GTK 3 clipboard clients on an X display, through python3-gi
/// (`Tests/Fixtures/gtk/clipboard.py`): an owner of text, and history-restoring clipboard
/// managers shaped like clipit and parcellite. Each is ended with the harness.
public enum GTKClipboard {
    static let script = VectorFile.packageRoot.appendingPathComponent("Tests/Fixtures/gtk/clipboard.py").path

    /// Whether python3-gi and GTK 3's introspection data are installed (`make test` installs them).
    public static var isAvailable: Bool {
        FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/gi/__init__.py")
            && FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/girepository-1.0/Gtk-3.0.typelib")
    }

    /// Starts `clipboard.py` with `arguments` on `x`, and waits until it says "ready". Its
    /// lines go to the returned log file.
    public static func start(_ arguments: [String], on x: XvfbServer, harness: DaemonHarness) throws -> (process: ChildProcess, log: String) {
        let log = harness.scratchPath("gtk") + ".log"
        let process = try harness.spawn("/usr/bin/env", ["DISPLAY=\(x.display)", "NO_AT_BRIDGE=1", "/usr/bin/python3", script] + arguments, log: log)
        guard harness.eventually(timeout: 30, { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("ready\n") == true || !process.isRunning }),
              process.isRunning
        else { throw HarnessError("the GTK client did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
        return (process, log)
    }
}
