import ArgumentParser
import ClipDaemon

/// Sends a one-shot request and prints its lines; shared by status, peers and unpair.
func simpleRequest(_ request: ControlRequest, home: HomeOption, emptyNote: String? = nil) throws {
    do {
        let client = try ControlClient(socketPath: home.paths.controlSocket)
        try client.send(request)
        let (response, _) = try client.receive()
        guard response.ok else { throw fail(response.error ?? "request failed") }
        let lines = response.lines ?? []
        for line in lines { FileHandleOutput.standardOutputLine(line) }
        if lines.isEmpty, let emptyNote { FileHandleOutput.standardError(emptyNote + "\n") }
    } catch let error as DaemonError {
        throw fail(error.description)
    }
}

/// A command that is one request to the daemon: it prints the answer's lines.
protocol OneRequestCommand: ParsableCommand {
    static var operation: ControlRequest.Operation { get }
    var home: HomeOption { get }
}

extension OneRequestCommand {
    func run() throws { try simpleRequest(ControlRequest(op: Self.operation), home: home) }
}

struct Status: OneRequestCommand {
    static let operation = ControlRequest.Operation.status
    static let configuration = CommandConfiguration(
        abstract: "Show whether the daemon runs, what it holds and who is connected.",
        discussion: "Exits 0 when a daemon answers, 1 when none runs.")

    @OptionGroup var home: HomeOption
}

struct Peers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List paired peers, or change what goes to and from one.",
        subcommands: [List.self, Set.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List paired peers: name, device id, connection state, last contact, direction, addresses.")

        @OptionGroup var home: HomeOption

        func run() throws {
            try simpleRequest(ControlRequest(op: .peers), home: home, emptyNote: "no paired peers yet: run `clipd pair`")
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change which way items go between this machine and a peer (saved in peers.toml).",
            discussion: """
                Examples:
                  clipd peers set laptop --direction send      # items go to laptop, none come from it
                  clipd peers set guest --direction off        # stay paired and connected, exchange nothing
                  clipd peers set guest --direction both       # the default

                The open session takes the change at once.
                """)

        @OptionGroup var home: HomeOption

        @Argument(help: "The peer's name or device id prefix.", completion: .custom(PeerNameCompletion.names))
        var peer: String

        @Option(help: "both, send (only to the peer), receive (only from it) or off.", completion: .list(["both", "send", "receive", "off"]))
        var direction: String

        func run() throws {
            var request = ControlRequest(op: .peerSet)
            request.peer = peer
            request.direction = direction
            try simpleRequest(request, home: home)
        }
    }
}

struct Unpair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forget a paired peer (by name or device id prefix from `clipd peers`).")

    @OptionGroup var home: HomeOption

    @Argument(help: "The peer's name or device id prefix.", completion: .custom(PeerNameCompletion.names))
    var peer: String

    func run() throws {
        var request = ControlRequest(op: .unpair)
        request.peer = peer
        try simpleRequest(request, home: home)
    }
}
