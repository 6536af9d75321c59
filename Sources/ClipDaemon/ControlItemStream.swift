import ClipSync
import ClipWire

/// Sends one representation of an item to a control client (`clipd recv`, a `--watch`
/// event) as a streamed payload: pieces as fast as the client reads them and as the bytes
/// arrive from a peer, then a trailer saying whether all of it came (protocol/control.md).
///
/// Runs on the daemon's event loop.
final class ControlItemStream {
    /// Largest piece written at once.
    static let pieceSize = 1 << 20

    private unowned let daemon: Daemon
    private let client: ControlConnection
    private let header: ItemHeader
    private let representation: Int
    private let held: ClipItem?
    private let total: UInt64
    /// The trailer's `done`: true for `recv` (its last response), false for a watch event.
    private let last: Bool
    private let finished: () -> Void
    private var offset: UInt64 = 0
    private var reading = false
    private var ended = false

    init(daemon: Daemon, client: ControlConnection, header: ItemHeader, representation: Int, held: ClipItem?, last: Bool,
         finished: @escaping () -> Void = {}) {
        self.daemon = daemon
        self.client = client
        self.header = header
        self.representation = representation
        self.held = held
        total = header.representations[representation].size
        self.last = last
        self.finished = finished
    }

    /// Sends the head (`ok`, the MIME type and size), then the bytes.
    func start() {
        var head = ControlResponse(ok: true)
        head.mimeType = header.representations[representation].mimeType
        head.streamed = true
        head.size = total
        client.reply(head)
        if held == nil {
            let (known, actions) = daemon.engine.beginRead(header.id)
            daemon.perform(actions)
            guard known else { return end(failure: "the item is no longer here") }
            reading = true
        }
        pump()
    }

    private func pump() {
        while !ended {
            guard !client.isClosed else { return end(failure: nil) }
            guard offset < total else { return end(failure: nil) }
            guard client.isWritable else {
                client.flush()
                client.whenWritable { [self] in pump() }
                return
            }
            let outcome: ReadOutcome = held.map { $0.piece(representation: representation, at: offset).map { .bytes($0) } ?? .end }
                ?? daemon.engine.read(header.id, representation: representation, offset: offset)
            switch outcome {
            case .bytes(let bytes):
                let piece = bytes.prefix(Self.pieceSize)
                client.writePiece(piece)
                offset += UInt64(piece.count)
            case .pending:
                client.flush()
                daemon.localReads.wait(for: header.id) { [self] in pump() }
                return
            case .end:
                return end(failure: offset == total ? nil : "the item ended early")
            case .failed(let reason):
                return end(failure: reason)
            }
        }
    }

    private func end(failure: String?) {
        guard !ended else { return }
        ended = true
        if reading { daemon.perform(daemon.engine.endRead(header.id)) }
        client.writePiece([])
        var trailer = failure.map { ControlResponse.failure($0) } ?? ControlResponse(ok: true)
        if last {
            client.finish(trailer)
        } else {
            trailer.done = nil  // a watch goes on after an event that failed
            client.reply(trailer)
        }
        finished()
    }
}
