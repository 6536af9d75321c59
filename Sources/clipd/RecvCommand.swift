import ArgumentParser
import ClipDaemon
import Foundation

struct Recv: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the clipboard, list its types, or watch it.",
        discussion: """
            Examples:
              clipd recv                       # the text on the clipboard
              clipd recv -l                    # its MIME types, one per line
              clipd recv -t image/png > a.png
              clipd recv --watch               # print every new item, one per line
              clipd recv --watch notify-send clipboard   # run a command per item, data on stdin
              clipd recv --watch sh -c 'echo "$CLIPBOARD_STATE $CLIPD_MIME_TYPE from $CLIPD_ORIGIN"'

            With a command, it runs once at start for what the selection holds then, and once \
            per change, with the item's bytes on standard input and in its environment:
              CLIPBOARD_STATE  data; sensitive (a password manager marked it); nil (empty
                               when the watch began; stdin is empty); clear (the desktop's
                               selection was emptied; stdin is empty)
              CLIPD_MIME_TYPE  the type on stdin (with data and sensitive)
              CLIPD_ORIGIN     who copied it: a peer's name, or "this device"
              CLIPD_SELECTION  clipboard or primary
            Without a command, each item's bytes are printed followed by a newline.

            A large item from a peer is fetched as it is printed; with standard output
            redirected and standard error a terminal, a progress bar shows on standard error.
            """)

    @OptionGroup var home: HomeOption

    @Option(name: .short, help: "MIME type to print (default: text if the item has it, else its first type).")
    var type: String?

    @Flag(name: [.short, .customLong("primary")], help: "Use the primary selection.")
    var primary = false

    @Flag(name: [.short, .customLong("list-types")], help: "List the item's MIME types instead of its data.")
    var listTypes = false

    @Flag(help: "Keep running: print each new item, or run COMMAND for each with the data on stdin.")
    var watch = false

    @Argument(parsing: .captureForPassthrough, help: "With --watch: a command to run for each new item.")
    var command: [String] = []

    func run() throws {
        var request = ControlRequest(op: watch ? .watch : .recv)
        request.selection = primary ? "primary" : "clipboard"
        request.mimeType = type
        request.listTypes = listTypes
        request.current = watch && !command.isEmpty ? true : nil
        if !command.isEmpty && !watch { throw fail("a command is only allowed with --watch", code: 2) }
        do {
            let client = try ControlClient(socketPath: home.paths.controlSocket)
            try client.send(request)
            if watch { try watchLoop(client) }
            var progress: ProgressBar?
            var received: UInt64 = 0
            let response = try client.receive(head: { head in
                if isatty(1) == 0 { progress = ProgressBar(label: "receiving", total: head.size, minimum: 4 << 20) }
            }, piece: { piece in
                FileHandleOutput.standardOutput(piece)
                received += UInt64(piece.count)
                progress?.update(received)
            })
            guard response.ok else {
                progress?.clear()
                throw fail(response.error ?? "recv failed")
            }
            progress?.finish(received)
            if let types = response.types {
                for t in types { FileHandleOutput.standardOutputLine(t) }
            }
        } catch let error as DaemonError {
            throw fail(error.description)
        }
    }

    private func watchLoop(_ client: ControlClient) throws -> Never {
        let (first, _) = try client.receive()
        guard first.ok else { throw fail(first.error ?? "watch failed") }
        while true {
            let response: ControlResponse
            let payload: [UInt8]
            do {
                (response, payload) = try client.receive()
            } catch {
                FileHandleOutput.standardError("clipd: the daemon stopped\n")
                Foundation.exit(1)
            }
            guard response.ok else {
                FileHandleOutput.standardError("clipd: \(response.error ?? "watch failed")\n")
                if response.done == true { Foundation.exit(1) }
                continue  // one item could not be fetched; the watch goes on
            }
            let state = response.state ?? "data"
            if command.isEmpty {
                if state == "data" || state == "sensitive" { FileHandleOutput.standardOutput(payload + [0x0a]) }
            } else {
                var environment = ProcessInfo.processInfo.environment
                environment["CLIPBOARD_STATE"] = state
                environment["CLIPD_MIME_TYPE"] = response.mimeType ?? ""
                environment["CLIPD_ORIGIN"] = response.origin ?? ""
                environment["CLIPD_SELECTION"] = primary ? "primary" : "clipboard"
                runCommand(with: payload, environment: environment)
            }
        }
    }

    private func runCommand(with payload: [UInt8], environment: [String: String]) {
        let process = Process()
        process.environment = environment
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let input = Pipe()
        process.standardInput = input
        do {
            try process.run()
        } catch {
            FileHandleOutput.standardError("clipd: cannot run \(command[0]): \(error.localizedDescription)\n")
            return
        }
        input.fileHandleForWriting.write(Data(payload))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
