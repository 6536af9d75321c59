import ClipDaemon
import ClipTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The VM channel under TCG, and passvm's argument builder.
func measureVirtio(_ harness: DaemonHarness) throws {
    // passvm args on a captured host tree, as a person runs it (process start included).
    let passvm = URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().appendingPathComponent("passvm").path
    let fixtures = VectorFile.packageRoot.appendingPathComponent("Tests/Fixtures").path
    var argsTimes: [Double] = []
    for _ in 0..<20 {
        let start = now()
        let status = spawnAndWait([passvm, "args", "--root", "\(fixtures)/hosts/gpu-audio-group", "--runtime-dir", "/tmp/r", "--state-dir", "/tmp/s",
                                   "\(fixtures)/vms/windows-gpu.toml"])
        argsTimes.append(now() - start)
        guard status == 0 else { throw HarnessError("passvm args failed with status \(status)") }
    }
    let argsP50 = percentile(argsTimes, 0.5)
    report("passvm args (process start included, p50 of 20)", ms(argsP50), target: "<= 50 ms", ok: argsP50 <= 0.05)

    guard QEMUGuest.isAvailable else {
        say("SKIP  VM channel figures: qemu-system-x86_64 is not installed (make bench installs it)")
        return
    }
    let guest = try QEMUGuest(harness: harness, name: "bench-guest")
    try measureRawChannel(guest)
    try measureGuestCipher(guest)
    let host = try harness.start("vm-host", listen: false, arguments: ["--virtio", "unix:\(guest.clipdSocket)"])
    // The guest fetches items at once, so that an acknowledgement means it holds the bytes.
    try guest.startClipd(arguments: ["--lazy-above", "1GiB"])
    let (code, window) = try harness.openWindow(host)
    guard try guest.shell("clipd pair --home /root/c \(code) virtio", timeout: 60).status == 0 else { throw HarnessError("guest pairing failed") }
    window.waitUntilExit()
    _ = harness.eventually(timeout: 30) { harness.clipd(["status"], host).stdout.contains("1 connected") }
    // The guest prints every item it holds; the end marker shows the whole item arrived.
    guest.type("clipd recv --home /root/c --watch & echo $! > /tmp/watch.pid")
    // The watcher starts slowly under TCG and prints only items newer than itself: send
    // warm-up items until one shows.
    var warm = false
    for attempt in 0..<30 where !warm {
        var send = ControlRequest(op: .send)
        send.mimeType = "text/plain;charset=utf-8"
        _ = try request(host, send, payload: Array("warm-up \(attempt)#".utf8))
        warm = (try? guest.waitForOutput("warm-up \(attempt)#", timeout: 1)) != nil
    }
    guard warm else { throw HarnessError("the guest's clipd recv --watch never printed") }
    var times: [Double] = []
    for i in 0..<100 {
        let marker = "#end \(i)#"
        let text = [UInt8](repeating: 0x61, count: 1024 - marker.utf8.count) + Array(marker.utf8)
        var send = ControlRequest(op: .send)
        send.mimeType = "text/plain;charset=utf-8"
        let start = now()
        _ = try request(host, send, payload: text)
        try guest.waitForOutput(marker, timeout: 10)
        times.append(now() - start)
    }
    let p50 = percentile(times, 0.5), p99 = percentile(times, 0.99)
    report("VM (TCG): 1 KiB host copy -> guest holds it", "\(ms(p50)) / \(ms(p99)) (p50 / p99 of 100)", target: "<= 20 ms", ok: p50 <= 0.020)

    // 16 MiB host -> guest, until the guest's daemon acknowledges (fetched, every chunk
    // checked, applied). New bytes each round (no deltas), and no watcher printing them.
    // A watcher printing 16 MiB to the serial console would starve the guest.
    guest.type("kill $(cat /tmp/watch.pid)")
    usleep(500_000)
    var bigTimes: [Double] = []
    for round in 0..<3 {
        let big = TestData.pattern(16 << 20, seed: UInt64(round) + 16)
        var send = ControlRequest(op: .send)
        send.mimeType = "application/octet-stream"
        send.wait = true
        send.timeoutMilliseconds = 300_000
        let start = now()
        let (response, _) = try request(host, send, payload: big)
        bigTimes.append(now() - start)
        guard response.ok else { throw HarnessError("16 MiB send failed: \(response.error ?? "")") }
    }
    let bigP50 = percentile(bigTimes, 0.5)
    report("VM (TCG): 16 MiB host -> guest, acknowledged", String(format: "%.0f MB/s (%@, median of 3)", Double(16 << 20) / bigP50 / 1e6, ms(bigP50)),
           target: ">= 100 MB/s", ok: Double(16 << 20) / bigP50 >= 100e6)
    harness.stop(host)
    guest.kill()
}

/// The port itself, before clipd uses it: 16 MiB written to QEMU's socket and read in the
/// guest by dd, for scale against clipd's figure (which adds the guest's decryption and
/// item check, both emulated by TCG).
func measureRawChannel(_ guest: QEMUGuest) throws {
    guard let fd = UnixSocket.connect(guest.clipdSocket) else { throw HarnessError("cannot connect to the guest's org.clipd.0") }
    defer { close(fd) }
    let size = 16 << 20
    // The guest reads end-of-file while no host is attached: start dd once QEMU has the host.
    usleep(300_000)
    let port = "$(for p in /sys/class/virtio-ports/*; do [ \"$(cat $p/name)\" = org.clipd.0 ] && echo /dev/$(basename $p); done)"
    try guest.shell("dd if=\(port) of=/dev/null bs=65536 count=\(size / 65536) iflag=fullblock 2>/tmp/dd.log &")
    let block = [UInt8](repeating: 0x63, count: 65536)
    let start = now()
    for _ in 0..<(size / block.count) {
        var sent = 0
        while sent < block.count {
            let count = block.withUnsafeBytes { write(fd, $0.baseAddress! + sent, block.count - sent) }
            guard count > 0 else { throw HarnessError("writing to the guest's port failed") }
            sent += count
        }
    }
    let done = try guest.shell("wait; cat /tmp/dd.log", timeout: 60)
    let seconds = now() - start
    guard done.output.contains("\(size / 65536)+0 records in") else { throw HarnessError("dd in the guest read short: \(done.output)") }
    report("VM (TCG): 16 MiB raw port, no clipd", String(format: "%.0f MB/s (%@)", Double(size) / seconds / 1e6, ms(seconds)),
           target: "context", ok: true)
}

/// What the guest's emulated CPU makes of the cipher clipd uses: OpenSSL's own speed test
/// on 256 KiB buffers (clipd's chunk size). The receiving guest decrypts every record and
/// then computes the item MAC, so this bounds the 16 MiB figure above it.
func measureGuestCipher(_ guest: QEMUGuest) throws {
    let result = try guest.shell("openssl speed -seconds 2 -bytes 262144 -evp aes-256-gcm 2>/dev/null | tail -n 1", timeout: 60)
    // The last line reads "AES-256-GCM  49325.77k": thousands of bytes per second.
    guard result.status == 0, let field = result.output.split(separator: " ").last(where: { $0.hasSuffix("k") || $0.hasSuffix("k\n") }),
          let rate = Double(field.trimmingCharacters(in: .whitespacesAndNewlines).dropLast())
    else {
        say("SKIP  the guest's AES-256-GCM speed: openssl is not in the test guest (\(result.output.prefix(80)))")
        return
    }
    report("VM (TCG): AES-256-GCM in the guest", String(format: "%.0f MB/s (openssl speed, 256 KiB)", rate * 1000 / 1e6),
           target: "context", ok: true)
}

/// Runs a program with its output discarded and returns its exit status: posix_spawn and
/// waitpid, nothing else timed.
func spawnAndWait(_ argv: [String]) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var cArguments = argv.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ) == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status >> 8) & 0xff
}
