import ClipSync

/// The bytes of a value a desktop application is pasting while a reader still fetches
/// them: read a bounded amount ahead of what was written to the application, and handed
/// out in order. Shared by the X11 owner (INCR chunks) and the Wayland writer (pipe writes).
///
/// Confined to the backend's thread; the reader's answers come back through the loop's
/// `ReadMailbox`.
final class ReadAhead {
    private let reader: ItemReader
    private let mailbox: ReadMailbox
    private let limit: Int
    private var buffered: [ArraySlice<UInt8>] = []
    private(set) var bufferedBytes = 0
    private var readOffset: UInt64 = 0
    /// The token of the read under way, if any.
    private(set) var token: Int?
    /// The reader said there is no more (its value may differ in size from the header's, as
    /// a rewritten list of files does).
    private(set) var ended = false

    init(reader: ItemReader, mailbox: ReadMailbox, limit: Int) {
        self.reader = reader
        self.mailbox = mailbox
        self.limit = limit
    }

    /// Asks for more when nothing is asked yet, the value has not ended and less than
    /// `limit` bytes wait.
    func requestMore() {
        guard token == nil, !ended, bufferedBytes < limit else { return }
        let next = mailbox.nextToken()
        token = next
        reader.read(from: readOffset, deliver: mailbox.deliverer(for: next))
    }

    /// Takes the reader's answer to the read under way; returns the failure, if it failed.
    func arrived(_ outcome: ReadOutcome) -> String? {
        token = nil
        switch outcome {
        case .bytes(let bytes):
            buffered.append(bytes)
            bufferedBytes += bytes.count
            readOffset += UInt64(bytes.count)
        case .end:
            ended = true
        case .pending:
            break  // readers answer with bytes, the end or a failure: asked again below
        case .failed(let reason):
            return reason
        }
        requestMore()
        return nil
    }

    /// The next bytes waiting, if any.
    var next: ArraySlice<UInt8>? { buffered.first }

    /// `count` bytes of `next` were written.
    func consume(_ count: Int) {
        bufferedBytes -= count
        if count == buffered[0].count { buffered.removeFirst() } else { buffered[0] = buffered[0].dropFirst(count) }
        requestMore()
    }

    /// Up to `count` waiting bytes in one array, consumed.
    func take(upTo count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(count, bufferedBytes))
        while out.count < count, let first = next {
            let piece = first.prefix(count - out.count)
            out.append(contentsOf: piece)
            consume(piece.count)
        }
        return out
    }

    /// Every byte was handed out.
    var isDrained: Bool { ended && bufferedBytes == 0 }

    func close() { reader.close() }
}
