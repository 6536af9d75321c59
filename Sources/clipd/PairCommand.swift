import ArgumentParser
import ClipDaemon
import ClipWire

struct Pair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pair this daemon with another one using a one-time code.",
        discussion: """
            On the machine that listens:
              $ clipd pair
              tracker-atlantic-spheroid-montana
            (the code alone on the first line; guidance on standard error)

            On the other machine, within 10 minutes:
              $ clipd pair tracker-atlantic-spheroid-montana desk.local:7439

            A code works once. A wrong code fails on both machines with the same message \
            and stores nothing.
            """)

    @OptionGroup var home: HomeOption

    @Option(help: "Close the pairing window after this many seconds (at most 600, the default).")
    var timeout: Int = 600

    @Argument(help: "The code shown by `clipd pair` on the other machine.")
    var code: String?

    @Argument(help: "Where the other daemon listens: HOST:PORT or tcp://HOST:PORT.")
    var target: String?

    func run() throws {
        if let code {
            guard let target else { throw fail("give the other daemon's address too: clipd pair CODE HOST:PORT", code: 2) }
            try join(code: code, target: target)
        } else {
            try openWindow()
        }
    }

    private func openWindow() throws {
        let client: ControlClient
        do { client = try ControlClient(socketPath: home.paths.controlSocket) } catch { throw fail("\(error)") }
        do {
            var request = ControlRequest(op: .pairOpen)
            request.timeoutMilliseconds = max(1, min(timeout, 600)) * 1000
            try client.send(request)
            while true {
                let (response, _) = try client.receive()
                guard response.ok else { throw fail(response.error ?? "pairing failed") }
                if let code = response.code {
                    FileHandleOutput.standardOutputLine(code)
                    let lines = response.lines ?? []
                    let addresses = lines.filter { $0 != "virtio" }
                    var examples: [String] = []
                    if let address = addresses.first {
                        examples.append("  clipd pair \(code) \(address)\n(this daemon listens on \(addresses.joined(separator: ", ")); use an address the other machine can reach)")
                    }
                    if lines.contains("virtio") { examples.append("  clipd pair \(code) virtio\n(in a guest attached to this host's VM channel)") }
                    if examples.isEmpty { examples.append("  clipd pair \(code) HOST:PORT") }
                    FileHandleOutput.standardError("""
                        On the other machine, run within \(timeout >= 600 ? "10 minutes" : timeout == 1 ? "1 second" : "\(timeout) seconds"):
                        \(examples.joined(separator: "\nor\n"))
                        Waiting... the code works once.

                        """)
                }
                if response.done == true {
                    for line in response.lines ?? [] { FileHandleOutput.standardError(line + "\n") }
                    return
                }
                if response.code == nil {
                    for line in response.lines ?? [] { FileHandleOutput.standardError(line + "\n") }  // news while waiting
                }
            }
        } catch let error as DaemonError {
            throw fail(error.description)
        }
    }

    private func join(code: String, target: String) throws {
        do {
            _ = try PairingCode(parsing: code)
        } catch {
            throw fail(error.description, code: 2)
        }
        let client: ControlClient
        do { client = try ControlClient(socketPath: home.paths.controlSocket) } catch { throw fail("\(error)") }
        var request = ControlRequest(op: .pairJoin)
        request.code = code
        request.target = target
        do {
            try client.send(request)
            let (response, _) = try client.receive()
            guard response.ok else { throw fail(response.error ?? "pairing failed") }
            for line in response.lines ?? [] { FileHandleOutput.standardError(line + "\n") }
        } catch let error as DaemonError {
            throw fail(error.description)
        }
    }
}
