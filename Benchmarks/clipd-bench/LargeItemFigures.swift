import ClipDaemon
import ClipTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Large items between real daemons on loopback: end-to-end throughput and time to the
/// first byte of a paste, a 1 MiB item fanned out to 16 peers, the bytes a delta re-copy
/// moves, and a relay's memory while 256 MiB pass through it.
func measureLargeItems(_ harness: DaemonHarness) throws {
    let table = BenchTable.shared
    let big = ["--max-size", "512MiB"]
    let a = try harness.start("large-a", arguments: big)
    let b = try harness.start("large-b", listen: false, arguments: big)
    try harness.pair(b, with: a)
    guard harness.eventually(timeout: 10, { harness.clipd(["status"], a).stdout.contains("1 connected") }) else { throw HarnessError("large-b never connected") }

    // Throughput: `send --wait` on A (B can paste it), then `recv` on B until its last byte.
    for (size, rounds) in [(1 << 20, 20), (64 << 20, 7), (256 << 20, 3)] {
        var endToEnd: [Double] = [], fetch: [Double] = [], firstByte: [Double] = []
        for round in 0..<rounds {
            let payload = TestData.pattern(size, seed: UInt64(size + round))  // new bytes each round: no deltas
            let start = now()
            try sendWait(a, payload)
            let (received, first, finished) = try receiveAll(b)
            guard received == size else { throw HarnessError("recv on B got \(received) of \(size) bytes") }
            endToEnd.append(finished - start)
            fetch.append(finished - first.requested)
            firstByte.append(first.arrived - first.requested)
        }
        let label = SizeParser.format(UInt64(size)).replacingOccurrences(of: ".0 ", with: " ")
        let rate = Double(size) / percentile(endToEnd, 0.5) / 1e9
        let target = size == 64 << 20 ? ">= 2.5 GB/s" : "(context)"
        report("\(label): send on A -> recv on B has every byte", String(format: "%.2f GB/s (%@, median of %d)", rate, ms(percentile(endToEnd, 0.5)), rounds),
               target: target, ok: size != 64 << 20 || rate >= 2.5, reference: table.ratio(rate, to: "tcp", unit: "TCP"))
        let fetchRate = Double(size) / percentile(fetch, 0.5) / 1e9
        report("  of which B's fetch (recv, all bytes from A)", String(format: "%.2f GB/s (%@)", fetchRate, ms(percentile(fetch, 0.5))),
               target: "(context)", ok: true, reference: table.ratio(fetchRate, to: "aes", unit: "AES-GCM"))
        if size == 64 << 20 {
            let p50 = percentile(firstByte, 0.5)
            report("64 MiB offered lazily: paste's first byte", "\(ms(p50)) (recv on B, median of \(rounds))", target: "<= 20 ms", ok: p50 <= 0.020)
        }
    }

    // Delta: a 50 MB text edited in the middle and copied again.
    do {
        var text = TestData.text(50_000_000)
        try sendWait(a, text)
        _ = try receiveAll(b)
        let before = try DaemonHarness.receivedBytes(harness.clipd(["status"], b).stdout)
        text.replaceSubrange(25_000_000..<25_000_100, with: Array("an edit in the middle of fifty megabytes".utf8))
        let start = now()
        try sendWait(a, text)
        let (received, _, finished) = try receiveAll(b)
        guard received == text.count else { throw HarnessError("the edited copy arrived short") }
        let moved = try DaemonHarness.receivedBytes(harness.clipd(["status"], b).stdout) - before
        let share = Double(moved) / Double(text.count)
        report("50 MB text edited in the middle, copied again", String(format: "%d bytes fetched (%.2f %%), %@ to paste", moved, share * 100, ms(finished - start)),
               target: "< 5 % of its bytes", ok: share < 0.05)
    }
    harness.stop(a)
    harness.stop(b)

    try measureFanOut(harness)
    try measureRelayMemory(harness)
}

/// `clipd send --wait` through the control socket: returns once every peer acknowledged.
private func sendWait(_ daemon: DaemonHarness.Daemon, _ payload: [UInt8]) throws {
    var send = ControlRequest(op: .send)
    send.mimeType = "application/octet-stream"
    send.wait = true
    send.timeoutMilliseconds = 60_000
    let (response, _) = try request(daemon, send, payload: payload)
    guard response.ok else { throw HarnessError("send --wait failed: \(response.error ?? "")") }
}

/// `clipd recv` through the control socket, counting bytes: how many came, when the request
/// went and its first byte arrived, and when the last did.
private func receiveAll(_ daemon: DaemonHarness.Daemon) throws -> (Int, (requested: Double, arrived: Double), Double) {
    let client = try ControlClient(socketPath: daemon.controlSocket)
    var recv = ControlRequest(op: .recv)
    recv.mimeType = "application/octet-stream"
    let requested = now()
    try client.send(recv)
    var count = 0
    var first = 0.0
    let trailer = try client.receive(head: { _ in }, piece: { piece in
        if count == 0 { first = now() }
        count += piece.count
    })
    guard trailer.ok else { throw HarnessError("recv failed: \(trailer.error ?? "")") }
    return (count, (requested, first), now())
}

/// A hub and 16 peers that fetch a 1 MiB item at once (`--lazy-above 4MiB`): from `send`
/// on the hub until every peer holds it, verified (their acknowledgements).
private func measureFanOut(_ harness: DaemonHarness) throws {
    let hub = try harness.start("fan-hub")
    var peers: [DaemonHarness.Daemon] = []
    for i in 0..<16 {
        let peer = try harness.start("fan-\(i)", listen: false, arguments: ["--lazy-above", "4MiB"])
        try harness.pair(peer, with: hub)
        peers.append(peer)
    }
    guard harness.eventually(timeout: 30, { harness.clipd(["status"], hub).stdout.contains("16 connected") }) else { throw HarnessError("the 16 peers did not all connect") }
    var times: [Double] = []
    for round in 0..<12 {
        let payload = TestData.pattern(1 << 20, seed: UInt64(round) * 7919)
        let start = now()
        try sendWait(hub, payload)
        if round >= 2 { times.append(now() - start) }  // two warm-up rounds
    }
    let p50 = percentile(times, 0.5)
    report("1 MiB fanned out to 16 peers: all hold it", "\(ms(p50)) (acknowledged after verification, median of 10)", target: "<= 50 ms", ok: p50 <= 0.050)
    for daemon in [hub] + peers { harness.stop(daemon) }
}

/// A 256 MiB item passing through a relay (origin -> relay -> laptop, pasted on the laptop):
/// how much the relay's peak resident memory grows.
private func measureRelayMemory(_ harness: DaemonHarness) throws {
    let big = ["--max-size", "512MiB"]
    let origin = try harness.start("relay-origin", arguments: big)
    let relay = try harness.start("relay-middle", arguments: big)
    let laptop = try harness.start("relay-laptop", listen: false, arguments: big)
    try harness.pair(relay, with: origin)
    try harness.pair(laptop, with: relay)
    guard harness.eventually(timeout: 10, { harness.clipd(["status"], relay).stdout.contains("2 connected") }) else { throw HarnessError("the relay's peers did not connect") }
    let pid = relay.process!.processIdentifier
    let before = peakRSSKiB(pid)
    let payload = TestData.pattern(256 << 20, seed: 256)
    try sendWait(origin, payload)
    // `--wait` is satisfied by the relay's acknowledgement; the relay's offer to the laptop
    // can still be on its way when it comes.
    guard harness.eventually(timeout: 10, { !harness.clipd(["status"], laptop).stdout.contains("clipboard: empty") }) else {
        throw HarnessError("the relay's offer did not reach the laptop")
    }
    let start = now()
    let (received, _, finished) = try receiveAll(laptop)
    guard received == payload.count else { throw HarnessError("the laptop got \(received) of \(payload.count) bytes") }
    let grown = (peakRSSKiB(pid) - before) / 1024
    report("256 MiB through a relay: relay's peak RSS grows", "\(grown) MiB (\(String(format: "%.2f GB/s", Double(received) / (finished - start) / 1e9)) through it)",
           target: "<= 64 MiB", ok: grown <= 64)
    for daemon in [origin, relay, laptop] { harness.stop(daemon) }
}

/// VmHWM: the most resident memory the process has had, in KiB.
func peakRSSKiB(_ pid: Int32) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
