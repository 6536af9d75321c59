import ClipSync
import ClipTestSupport
import ClipWire
import ClipboardBackends
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Wayland: two headless sway compositors through two daemons. A test client on each
/// side: one copies, the other takes every new item in full (a complete paste), so each
/// figure runs from a copy on A to its bytes in an application on B.
func measureWayland(_ harness: DaemonHarness) throws {
    guard WaylandCompositor.isAvailable(.sway) && WaylandCompositor.clipboardToolsAvailable else {
        say("SKIP  Wayland figures: sway or wl-clipboard is not installed (make bench installs them)")
        return
    }
    let a = try WaylandCompositor(.sway, harness: harness)
    let b = try WaylandCompositor(.sway, harness: harness)
    let one = try harness.startOnCompositor("wayland-one", socket: a.socket)
    let two = try harness.startOnCompositor("wayland-two", socket: b.socket, listen: false)
    try harness.pair(two, with: one)
    _ = harness.eventually { harness.clipd(["status"], one).stdout.contains("1 connected") }

    let pasted = ArrivalQueue<LocalCopy>()
    let copier = WaylandBackend(displayName: a.socket, selections: [.clipboard], policy: ClipboardPolicy())
    let reader = WaylandBackend(displayName: b.socket, selections: [.clipboard], policy: ClipboardPolicy())
    try copier.start(onCopy: { _ in }, onReconnect: {}, log: { say("copier: \($0)") })
    try reader.start(onCopy: { pasted.append($0) }, onReconnect: {}, log: { say("reader: \($0)") })
    defer {
        copier.stop()
        reader.stop()
    }
    var times: [Double] = []
    for i in 0..<200 {
        var text = Array("copy \(i) ".utf8)
        text += [UInt8](repeating: 0x61, count: 1024 - text.count)
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID(bytes: [UInt8](repeating: 3, count: 16)), counter: UInt64(i + 1)),
                                clock: HybridTimestamp(milliseconds: UInt64(i + 1), logical: 0),
                                representations: [RepresentationInfo(mimeType: ClipboardPolicy.textMIME, size: UInt64(text.count))])
        let start = now()
        copier.own(ClipItem(header: header, data: text))
        guard let copy = pasted.next(timeout: 5), copy.representations.first?.bytes == text else {
            throw HarnessError("copy \(i) never reached compositor two")
        }
        times.append(now() - start)
    }
    let p50 = percentile(times, 0.5), p99 = percentile(times, 0.99)
    report("Wayland: 1 KiB copy on A -> pasted on B", "\(ms(p50)) / \(ms(p99)) (p50 / p99 of 200)", target: "<= 5 ms / <= 20 ms", ok: p50 <= 0.005 && p99 <= 0.020)

    // 20 MiB: wl-copy on A until an application on B has every byte.
    let big = (0..<(20 << 20)).map { UInt8(truncatingIfNeeded: 97 + $0 % 26) }
    let file = harness.root + "/wayland-20MiB.txt"
    _ = FileManager.default.createFile(atPath: file, contents: Data(big))
    var bigTimes: [Double] = []
    for _ in 0..<5 {
        let start = now()
        let process = try ChildProcess("/usr/bin/env", ["WAYLAND_DISPLAY=\(a.socket)", "wl-copy", "--foreground"], stdin: .file(file))
        guard let copy = pasted.next(timeout: 20) else { throw HarnessError("20 MiB never reached compositor two") }
        bigTimes.append(now() - start)
        process.terminate()
        guard copy.representations.first?.bytes == big else { throw HarnessError("20 MiB paste incomplete") }
        usleep(200_000)
    }
    let bigP50 = percentile(bigTimes, 0.5)
    report("Wayland: 20 MiB copy on A -> pasted on B", "\(ms(bigP50)) (median of 5, wl-copy start-up included)", target: "<= 300 ms", ok: bigP50 <= 0.3)

    reportIdle("Wayland: idle 10 s with a compositor: CPU / wake-ups", one)
    harness.stop(one)
    harness.stop(two)
}
