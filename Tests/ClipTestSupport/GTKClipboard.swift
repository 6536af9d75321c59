import Foundation

/// Real GTK 3 clipboard clients on an X display, through python3-gi
/// (`Tests/Fixtures/gtk/clipboard.py`): an owner of text, and history-restoring clipboard
/// managers shaped like clipit and parcellite. Each is ended with the harness.
public enum GTKClipboard {
    static let script = VectorFile.packageRoot.appendingPathComponent("Tests/Fixtures/gtk/clipboard.py").path

    /// Whether python3-gi and GTK 3's introspection data are installed (`make test` installs them).
    public static var isAvailable: Bool {
        let multiarch = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib"))?.filter { $0.hasSuffix("-linux-gnu") } ?? []
        return FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/gi/__init__.py")
            && multiarch.contains { FileManager.default.fileExists(atPath: "/usr/lib/\($0)/girepository-1.0/Gtk-3.0.typelib") }
    }

    /// Starts `clipboard.py` with `arguments` on `x`, and waits until it says "ready". Its
    /// lines go to the returned log file.
    public static func start(_ arguments: [String], on x: XvfbServer, harness: DaemonHarness) throws -> (process: ChildProcess, log: String) {
        try start(["DISPLAY=\(x.display)"], arguments, harness: harness)
    }

    /// Whether wtype (a virtual keyboard for wlroots compositors) is installed: GTK sets a
    /// Wayland selection only with the serial of a key press, which the test types with it.
    public static var canTypeOnWayland: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/wtype") }

    /// Starts `clipboard.py own-on-key TEXT` on the compositor with GTK's Wayland backend,
    /// types a key into its window, and waits until it owns the clipboard.
    public static func own(_ text: String, on compositor: WaylandCompositor, harness: DaemonHarness) throws -> ChildProcess {
        let (process, log) = try start(["WAYLAND_DISPLAY=\(compositor.socket)", "XDG_RUNTIME_DIR=\((compositor.socket as NSString).deletingLastPathComponent)", "GDK_BACKEND=wayland"], ["own-on-key", text], harness: harness)
        let typed = compositor.run("wtype", ["-s", "300", "x"], harness: harness)
        guard typed.status == 0 else { throw HarnessError("wtype failed: \(typed.stderr)") }
        guard harness.eventually(timeout: 15, { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("owned\n") == true }) else {
            throw HarnessError("the GTK window did not take the clipboard: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return process
    }

    private static func start(_ environment: [String], _ arguments: [String], harness: DaemonHarness) throws -> (process: ChildProcess, log: String) {
        let log = harness.scratchPath("gtk") + ".log"
        let process = try harness.spawn("/usr/bin/env", environment + ["NO_AT_BRIDGE=1", "/usr/bin/python3", script] + arguments, log: log)
        guard harness.eventually(timeout: 30, { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("ready\n") == true || !process.isRunning }),
              process.isRunning
        else { throw HarnessError("the GTK client did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
        return (process, log)
    }
}
