import ClipTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The machine's own limits, measured in the same run as clipd's figures: AES-256-GCM and
/// SHA-256 as OpenSSL runs them, TCP on loopback as socat moves it, and a copy and paste
/// on one X display with xclip.
func measureReferences(_ harness: DaemonHarness) throws {
    let table = BenchTable.shared
    for (key, algorithm) in [("aes", "aes-256-gcm"), ("sha", "sha256")] {
        let result = harness.run("/usr/bin/openssl", ["speed", "-evp", algorithm, "-bytes", "262144", "-seconds", "2"])
        // The last line: "<name>  <kilobytes per second>k".
        if let line = result.stdout.split(separator: "\n").last, let field = line.split(separator: " ").last,
           let kilobytes = Double(field.dropLast()) {
            let rate = kilobytes * 1000 / 1e9
            table.setReference(key, value: rate, text: String(format: "%.2f GB/s (`openssl speed -evp %@`, 256 KiB blocks, one core)", rate, algorithm))
            say(String(format: "REF   %-44@ %.2f GB/s", "openssl speed -evp \(algorithm)", rate))
        }
    }
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/socat") {
        let port = DaemonHarness.freePort()
        let sink = try ChildProcess("/usr/bin/socat", ["-u", "-b", "262144", "TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr", "GOPEN:/dev/null"])
        usleep(200_000)
        let size = 4 << 30
        let start = now()
        let status = spawnAndWait(["/usr/bin/socat", "-u", "-b", "262144", "GOPEN:/dev/zero,readbytes=\(size)", "TCP:127.0.0.1:\(port)"])
        let seconds = now() - start
        sink.waitUntilExit()
        if status == 0 {
            let rate = Double(size) / seconds / 1e9
            table.setReference("tcp", value: rate, text: String(format: "%.2f GB/s (socat, 4 GiB over loopback TCP, 256 KiB writes)", rate))
            say(String(format: "REF   %-44@ %.2f GB/s", "socat over loopback TCP", rate))
        }
    } else {
        say("SKIP  the TCP reference: socat is not installed (make bench installs it)")
    }
    if XvfbServer.isAvailable {
        let x = try XvfbServer(harness: harness)
        var times: [Double] = []
        for i in 0..<20 {
            let text = Array("reference \(i) ".utf8) + [UInt8](repeating: 0x61, count: 1000)
            let start = now()
            let owner = try x.startOwner("xclip", ["-quiet", "-i", "-selection", "clipboard"], data: text)
            var pasted: [UInt8] = []
            while pasted != text && now() - start < 5 { pasted = x.run("xclip", ["-o", "-selection", "clipboard"], harness: harness).stdoutBytes }
            times.append(now() - start)
            owner.terminate()
            owner.waitUntilExit()
        }
        let p50 = percentile(times, 0.5)
        table.setReference("xclip", value: p50, text: String(format: "%.1f ms (xclip -i, then xclip -o until it has the text, one display, process starts included, p50 of 20)", p50 * 1000))
        say(String(format: "REF   %-44@ %.2f ms", "xclip copy then paste on one display", p50 * 1000))
    }
}
