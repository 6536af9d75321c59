import ClipDaemon
import ClipTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The Windows-like SPICE agent (Tests/ModelWindowsAgent) in a QEMU guest under TCG, its
/// port held by `passvm hold`: host copy -> the agent holds it, and back; and how soon a
/// clipd SIGKILLed and started again syncs with it.
///
/// The agent runs in the foreground of the guest's test shell in echo mode: it fetches every
/// host text at its grab, prints "held ..." (read on the host from the test port, as the VM
/// figures are), and copies it back, which a watch on the host's control socket sees.
func measureWindowsAgent(_ harness: DaemonHarness) throws {
    guard QEMUGuest.isAvailable else {
        say("SKIP  Windows-like agent figures: qemu-system-x86_64 is not installed (make bench installs it)")
        return
    }
    let passvm = URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().appendingPathComponent("passvm").path
    try QEMUGuest.buildImage(harness: harness)
    let directory = harness.root + "/bench-windows-vm"
    mkdir(directory, 0o700)
    let qemuSocket = directory + "/vdagent.sock", holderSocket = directory + "/holder.sock", qmp = directory + "/qmp.sock"
    let host = try harness.start("windows-host", listen: false, arguments: ["--vdagent", "unix:\(holderSocket)"])
    _ = try harness.spawn(passvm, ["hold", "--qemu", qemuSocket, "--listen", holderSocket, "--qmp", qmp, "--no-attach"], log: directory + "/hold.log")
    let argv = QEMUGuest.commandLine(directory: directory, ports: QEMUGuest.agentPortArguments(socket: qemuSocket, waitForHolder: true, qmp: qmp))
    let guest = try QEMUGuest(harness: harness, directory: directory, command: argv)
    defer { guest.kill() }
    try guest.shell("mkdir -p /tmp/agent && mkfifo /tmp/agent/ctl")
    let port = "$(for p in /sys/class/virtio-ports/*; do [ \"$(cat $p/name)\" = com.redhat.spice.0 ] && echo /dev/$(basename $p); done)"
    guest.type("clipd-model-agent \(port) /tmp/agent/ctl &")
    try guest.waitForOutput("model-agent: started", timeout: 30)
    guard harness.eventually(timeout: 30, { harness.clipd(["status"], host).stdout.contains("(1 of 1 agents ready)") }) else {
        throw HarnessError("the model agent never became ready: \(harness.logText(host).suffix(600))")
    }
    try guest.shell("echo 'echo on -' > /tmp/agent/ctl")
    try guest.waitForOutput("echo on", timeout: 10)

    var arrivals = try watchText(host)

    /// One host copy: when the agent held it, and when its echo was back on the host.
    func roundTrip(_ i: Int, timeout: Double = 10) throws -> (held: Double, back: Double) {
        let marker = "bench \(i)#"
        let text = Array(marker.utf8) + [UInt8](repeating: 0x61, count: 1024 - marker.utf8.count)
        var send = ControlRequest(op: .send)
        send.mimeType = "text/plain;charset=utf-8"
        let start = now()
        _ = try request(host, send, payload: text)
        try guest.waitForOutput("held \(marker)", timeout: timeout)
        let held = now() - start
        let echo = Array("echo ".utf8) + text
        guard arrivals.first(timeout: timeout, where: { $0 == echo }) != nil else { throw HarnessError("the echo of copy \(i) never reached the host") }
        return (held, now() - start)
    }
    for i in 0..<5 { _ = try roundTrip(-1 - i) }  // warm-up
    var held: [Double] = [], back: [Double] = []
    for i in 0..<100 {
        let (toGuest, total) = try roundTrip(i)
        held.append(toGuest)
        back.append(total - toGuest)
    }
    var p50 = percentile(held, 0.5), p99 = percentile(held, 0.99)
    report("Windows-like agent (TCG): 1 KiB host copy -> the agent holds it", "\(ms(p50)) / \(ms(p99)) (p50 / p99 of 100)", target: "<= 5 ms", ok: p50 <= 0.005)
    p50 = percentile(back, 0.5)
    p99 = percentile(back, 0.99)
    report("Windows-like agent (TCG): ... and its copy back -> host", "\(ms(p50)) / \(ms(p99)) (p50 / p99 of 100)", target: "<= 5 ms", ok: p50 <= 0.005)

    // clipd SIGKILLed and started again: from the new process's start to the first host copy
    // the agent holds, and back.
    var recoveries: [Double] = []
    for round in 0..<3 {
        host.process?.signal(SIGKILL)
        _ = host.process?.wait(timeout: 10)
        usleep(500_000)
        let start = now()
        try harness.start(host)
        arrivals = try watchText(host)
        var synced = false
        var attempt = 0
        while !synced && now() - start < 30 {
            attempt += 1
            synced = (try? roundTrip(1000 * (round + 1) + attempt, timeout: 0.5)) != nil
        }
        guard synced else { throw HarnessError("no sync within 30 s of clipd's restart: \(harness.logText(host).suffix(600))") }
        recoveries.append(now() - start)
    }
    let recovery = percentile(recoveries, 0.5)
    report("Windows-like agent (TCG): clipd SIGKILLed, started again -> first sync both ways", "\(ms(recovery)) (median of 3, from the new process's start)",
           target: "<= 2000 ms", ok: recovery <= 2)
    harness.stop(host)
}

/// Every text item the daemon's clipboard takes from now on (a watch on its control socket,
/// read on a thread of its own until the daemon goes).
func watchText(_ daemon: DaemonHarness.Daemon) throws -> ArrivalQueue<[UInt8]> {
    let arrivals = ArrivalQueue<[UInt8]>()
    let watcher = try ControlClient(socketPath: daemon.controlSocket)
    var watch = ControlRequest(op: .watch)
    watch.mimeType = "text/plain;charset=utf-8"
    try watcher.send(watch)
    _ = try watcher.receive()
    let handedOver = HandedOver(watcher)
    let reader = Thread {
        while let (_, payload) = try? handedOver.value.receive() { arrivals.append(payload) }
    }
    reader.start()
    return arrivals
}
