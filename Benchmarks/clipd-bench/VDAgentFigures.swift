import ClipDaemon
import ClipSync
import ClipTestSupport
import ClipWire
import ClipboardBackends
import Foundation

/// The SPICE agent bridge with the real spice-vdagentd and spice-vdagent on an Xvfb
/// display: an X client on that display stands for the guest's applications (it takes every
/// new item in full, or copies), a watch on the host's control socket for the host's.
func measureVDAgent(_ harness: DaemonHarness) throws {
    guard SpiceAgentGuest.isAvailable else {
        say("SKIP  SPICE agent figures: spice-vdagent, Xvfb or xclip is not installed (make bench installs them)")
        return
    }
    let port = harness.root + "/bench-agent.sock"
    let host = try harness.start("vdagent-host", listen: false, arguments: ["--vdagent", "unix-listen:\(port)"])
    let guest = try SpiceAgentGuest(harness: harness, name: "bench-agent-guest", portSocket: port)
    guard harness.eventually(timeout: 20, { harness.clipd(["status"], host).stdout.contains("(1 of 1 agents ready)") }) else {
        throw HarnessError("the SPICE agent never became ready: \(guest.logs)")
    }
    let application = X11Backend(displayName: guest.x.display, selections: [.clipboard], policy: ClipboardPolicy())
    let pasted = ArrivalQueue<LocalCopy>()
    try application.start(onCopy: { pasted.append($0) }, onReconnect: {}, log: { say("guest application: \($0)") })
    defer { application.stop() }

    // Host copy -> an application on the guest's display has every byte.
    var times: [Double] = []
    for i in 0..<100 {
        let marker = "host \(i)#"
        let text = Array(marker.utf8) + [UInt8](repeating: 0x61, count: 1024 - marker.utf8.count)
        var send = ControlRequest(op: .send)
        send.mimeType = "text/plain;charset=utf-8"
        let start = now()
        _ = try request(host, send, payload: text)
        guard pasted.first(timeout: 5, where: { $0.representations.first?.bytes == text }) != nil else { throw HarnessError("host copy \(i) never reached the guest's display: \(guest.logs)") }
        times.append(now() - start)
    }
    var p50 = percentile(times, 0.5), p99 = percentile(times, 0.99)
    report("SPICE agent: 1 KiB host copy -> guest app", "\(ms(p50)) / \(ms(p99)) (p50 / p99 of 100)", target: "<= 20 ms", ok: p50 <= 0.020)

    // Guest copy -> the host's clipboard has it (a watch on the control socket).
    let arrivals = try watchText(host)
    times = []
    for i in 0..<100 {
        let marker = "guest \(i)#"
        let text = Array(marker.utf8) + [UInt8](repeating: 0x62, count: 1024 - marker.utf8.count)
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID(bytes: [UInt8](repeating: 9, count: 16)), counter: UInt64(i + 1)),
                                clock: HybridTimestamp(milliseconds: UInt64(i + 1), logical: 0),
                                representations: [RepresentationInfo(mimeType: ClipboardPolicy.textMIME, size: UInt64(text.count))])
        let start = now()
        application.own(ClipItem(header: header, data: text))
        guard arrivals.first(timeout: 5, where: { $0 == text }) != nil else { throw HarnessError("guest copy \(i) never reached the host: \(harness.logText(host).suffix(800))") }
        times.append(now() - start)
    }
    p50 = percentile(times, 0.5)
    p99 = percentile(times, 0.99)
    report("SPICE agent: 1 KiB guest copy -> host", "\(ms(p50)) / \(ms(p99)) (p50 / p99 of 100)", target: "<= 20 ms", ok: p50 <= 0.020)
    harness.stop(host)
    guest.stop()
}

/// A value handed to one other thread, which alone uses it from then on: the reason the
/// unchecked conformance is sound.
final class HandedOver<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
