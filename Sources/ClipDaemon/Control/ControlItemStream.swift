import ClipSync
import ClipboardBackends
import ClipWire
import NIOCore

/// Sends one representation of an item to a control client (`clipd recv`, a `--watch`
/// event) as a streamed payload: pieces as fast as the client reads them and as the bytes
/// arrive from a peer, then a trailer saying whether all of it came (protocol/control.md).
///
/// Runs on the daemon's event loop.
final class ControlItemStream {
    /// Largest piece written at once.
    static let pieceSize = 1 << 20

    private let loop: EventLoop
    private let client: ControlConnection
    private let mimeType: String
    private let sizeHint: UInt64
    private let reader: ItemReader
    /// The trailer's `done`: true for `recv` (its last response), false for a watch event.
    private let last: Bool
    private let finished: () -> Void
    /// A watch event's CLIPBOARD_STATE and origin, sent in the head.
    private let state: String?
    private let origin: String?
    private var offset: UInt64 = 0
    private var ended = false

    /// Streams representation `representation` of `header` (as the desktop sees it) read
    /// through `content`.
    init(loop: EventLoop, client: ControlConnection, header: ItemHeader, representation: Int, content: ItemContent, last: Bool,
         state: String? = nil, origin: String? = nil, finished: @escaping () -> Void = {}) {
        self.state = state
        self.origin = origin
        self.loop = loop
        self.client = client
        mimeType = header.representations[representation].mimeType
        sizeHint = header.representations[representation].size
        reader = content.makeReader(representation: representation)
        self.last = last
        self.finished = finished
    }

    /// The representation to give a reader asking for `mimeType`: that type, else text,
    /// else the first. Throws a one-line error naming the types there are when the item has
    /// no `mimeType`.
    static func representation(of header: ItemHeader, mimeType: String?) throws -> Int {
        let types = header.representations.map(\.mimeType)
        if let mimeType {
            guard let index = types.firstIndex(of: mimeType) else {
                throw DaemonError("the \(header.selection) has no \(mimeType) (it has: \(types.joined(separator: ", ")))")
            }
            return index
        }
        for preferred in ["text/plain;charset=utf-8", "text/plain", "UTF8_STRING"] {
            if let index = types.firstIndex(of: preferred) { return index }
        }
        return 0
    }

    /// Sends the head (`ok`, the MIME type and size), then the bytes.
    func start() {
        var head = ControlResponse(ok: true)
        head.mimeType = mimeType
        head.streamed = true
        head.size = sizeHint
        head.state = state
        head.origin = origin
        client.reply(head)
        pump()
    }

    /// Answers that come at once (held bytes) are taken in this loop; the others resume it.
    private func pump() {
        while !ended {
            guard !client.isClosed else { return end(failure: nil) }
            guard client.isWritable else {
                client.flush()
                client.whenWritable { [self] in pump() }
                return
            }
            let answer = ImmediateAnswer()
            let this = NIOLoopBound(self, eventLoop: loop)
            reader.read(from: offset) { outcome in
                if answer.waiting {
                    answer.outcome = outcome
                } else if this.value.take(outcome) {
                    this.value.pump()
                }
            }
            answer.waiting = false
            guard let outcome = answer.outcome else {
                client.flush()  // the rest comes when the reader answers
                return
            }
            guard take(outcome) else { return }
        }
    }

    /// Handles one answer; false once the stream has ended.
    private func take(_ outcome: ReadOutcome) -> Bool {
        switch outcome {
        case .bytes(let bytes):
            let piece = bytes.prefix(Self.pieceSize)
            client.writePiece(piece)
            offset += UInt64(piece.count)
            return true
        case .pending:
            return true
        case .end:
            end(failure: nil)
        case .failed(let reason):
            end(failure: reason)
        }
        return false
    }

    private func end(failure: String?) {
        guard !ended else { return }
        ended = true
        reader.close()
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

/// Whether a reader answered while `read` was still running (held bytes do): then the
/// answer is kept here instead of resuming the stream from inside itself.
///
/// Sound as `@unchecked Sendable`: used on the daemon's loop only.
private final class ImmediateAnswer: @unchecked Sendable {
    var waiting = true
    var outcome: ReadOutcome?
}
