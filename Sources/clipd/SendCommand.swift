import ArgumentParser
import ClipDaemon

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy text or data to the clipboard of every paired machine.",
        discussion: """
            Examples:
              clipd send hello world                 # the text "hello world"
              date | clipd send                      # standard input
              clipd send -t image/png < shot.png
              clipd send --wait --timeout 5 "$(hostname)"   # exit 0 once every peer has it

            A large item shows a progress bar on standard error when it is a terminal.
            """)

    @OptionGroup var home: HomeOption

    @Option(name: .short, help: "MIME type (default: text/plain;charset=utf-8 for UTF-8, else application/octet-stream).")
    var type: String?

    @Flag(name: [.short, .customLong("primary")], help: "Use the primary selection.")
    var primary = false

    @Flag(help: "Exit only after every connected peer acknowledged the item (non-zero if any did not take it).")
    var wait = false

    @Option(help: "Seconds to wait with --wait (default 30).")
    var timeout: Double = 30

    @Argument(help: "Text to send, joined by spaces. Standard input when absent.")
    var text: [String] = []

    func run() throws {
        let reading = ProgressBar(label: "reading", total: nil, minimum: 0)
        var bytes: [UInt8]
        if text.isEmpty {
            var big = false
            bytes = readStandardInput { count in
                big = big || count >= 4 << 20  // small inputs finish before a bar is worth drawing
                if big { reading.update(UInt64(count)) }
            }
            if big { reading.finish(UInt64(bytes.count)) }
        } else {
            bytes = Array(text.joined(separator: " ").utf8)
        }
        var request = ControlRequest(op: .send)
        request.selection = primary ? "primary" : "clipboard"
        request.mimeType = type ?? (String(validating: bytes, as: UTF8.self) != nil ? "text/plain;charset=utf-8" : "application/octet-stream")
        request.wait = wait
        request.timeoutMilliseconds = Int(timeout * 1000)
        let upload = ProgressBar(label: "sending", total: UInt64(bytes.count))
        do {
            let client = try ControlClient(socketPath: home.paths.controlSocket)
            try client.send(request, payload: bytes) { upload.update(UInt64($0)) }
            upload.finish(UInt64(bytes.count))
            let (response, _) = try client.receive()
            for note in response.notes ?? [] where response.ok { FileHandleOutput.standardError("clipd: \(note)\n") }
            guard response.ok else { throw fail(response.error ?? "send failed") }
        } catch let error as DaemonError {
            upload.clear()
            throw fail(error.description)
        }
    }
}
