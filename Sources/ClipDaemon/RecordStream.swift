import ClipCrypto
import ClipSync
import ClipWire
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// What an established session needs from its owner: somewhere to hand the messages it
/// opens, and the engine's stream of item bytes to send when the socket takes more.
///
/// Called on the daemon's event loop only.
protocol SessionHost: AnyObject {
    /// A message arrived on `session`.
    func received(_ message: SessionMessage, on session: SessionID)
    /// The next DATA or DATA_END the engine has for `session`, if one is ready; carries out
    /// whatever pulling it set off.
    func nextStreamMessage(on session: SessionID) -> SessionMessage?
}

/// Where a record stream writes: a NIO channel (`ChannelRecordSink`) or a test's buffer.
protocol RecordSink {
    var allocator: ByteBufferAllocator { get }
    /// Whether the transport takes more now (the stream pulls item bytes only while it does).
    var isWritable: Bool { get }
    func write(_ bytes: ByteBuffer, flush: Bool)
    func flush()
}

/// A record sink writing to the channel of a handler's context.
struct ChannelRecordSink: RecordSink {
    let context: ChannelHandlerContext

    var allocator: ByteBufferAllocator { context.channel.allocator }
    var isWritable: Bool { context.channel.isWritable }

    func write(_ bytes: ByteBuffer, flush: Bool) {
        if flush { context.writeAndFlush(NIOAny(bytes), promise: nil) } else { context.write(NIOAny(bytes), promise: nil) }
    }

    func flush() { context.flush() }
}

/// The record layer of one established session: opens incoming records straight from the
/// receive buffer (a record split across reads is the only copy), seals outgoing messages
/// straight into the send buffer (a DATA record's header and item bytes are never joined),
/// and pulls item bytes from the engine while the socket is writable.
///
/// Runs on the daemon's event loop, owned by one `PeerConnection`; needs no channel, only a
/// `RecordSink`, so it runs in tests on bytes alone.
final class RecordStream {
    let sealer: RecordSealer
    let opener: RecordOpener
    /// The start of a record that has not fully arrived.
    private var pending: ByteBuffer?
    /// Set while pulling, so a `.streamReady` raised by the pull itself does not recurse;
    /// `pumpAgain` records that one came meanwhile.
    private var pumping = false
    private var pumpAgain = false

    convenience init(keys: NoiseTransportKeys, maximumPlaintext: Int) throws {
        try self.init(sendKey: keys.sendKey, receiveKey: keys.receiveKey, maximumPlaintext: maximumPlaintext)
    }

    init(sendKey: [UInt8], receiveKey: [UInt8], maximumPlaintext: Int) throws {
        sealer = try RecordSealer(key: sendKey, maximumPlaintext: maximumPlaintext)
        opener = try RecordOpener(key: receiveKey, maximumPlaintext: maximumPlaintext)
    }

    // MARK: Receiving

    /// Takes newly received bytes and hands every complete, authenticated message to
    /// `deliver` (which returns false when the session ended meanwhile). Throws on a bad
    /// length, a record that fails authentication or a malformed message: the session ends.
    func ingest(_ incoming: inout ByteBuffer, deliver: (SessionMessage) -> Bool) throws {
        if var partial = pending {
            pending = nil
            if partial.readableBytes < RecordLayer.headerByteCount {
                var head = incoming.readSlice(length: min(RecordLayer.headerByteCount - partial.readableBytes, incoming.readableBytes))!
                partial.writeBuffer(&head)
                guard partial.readableBytes >= RecordLayer.headerByteCount else {
                    pending = partial
                    return
                }
            }
            let total = try recordSize(at: partial)
            var body = incoming.readSlice(length: min(total - partial.readableBytes, incoming.readableBytes))!
            partial.writeBuffer(&body)
            guard partial.readableBytes >= total else {
                pending = partial
                return
            }
            guard try openRecords(in: &partial, deliver: deliver) else { return }
        }
        guard try openRecords(in: &incoming, deliver: deliver) else { return }
        guard incoming.readableBytes > 0 else { return }
        // The start of the next record goes into a buffer of its own, sized for the whole
        // record: keeping a view of `incoming` would copy all of its storage once the rest
        // is appended (copy on write), a read's worth of bytes for every record that spans
        // two reads.
        let whole = incoming.readableBytes >= RecordLayer.headerByteCount ? try recordSize(at: incoming) : RecordLayer.headerByteCount
        var partial = ByteBufferAllocator().buffer(capacity: max(whole, incoming.readableBytes))
        partial.writeBuffer(&incoming)
        pending = partial
    }

    /// The size on the wire of the record starting at `buffer`'s reader index, after
    /// checking its length field.
    private func recordSize(at buffer: ByteBuffer) throws -> Int {
        let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self)!
        _ = try opener.plaintextLength(forLengthField: length)
        return RecordLayer.headerByteCount + Int(length)
    }

    /// Opens and delivers every complete record in `buffer`, leaving a partial one. False
    /// when delivery stopped because the session ended.
    private func openRecords(in buffer: inout ByteBuffer, deliver: (SessionMessage) -> Bool) throws -> Bool {
        while buffer.readableBytes >= RecordLayer.headerByteCount {
            let total = try recordSize(at: buffer)
            guard buffer.readableBytes >= total else { return true }
            let plaintextCount = total - RecordLayer.headerByteCount - RecordLayer.tagByteCount
            let plaintext: [UInt8] = try buffer.withUnsafeReadableBytes { raw in
                try [UInt8](unsafeUninitializedCapacity: plaintextCount) { out, initialized in
                    try opener.open(header: UnsafeRawBufferPointer(rebasing: raw[0..<RecordLayer.headerByteCount]),
                                    body: UnsafeRawBufferPointer(rebasing: raw[RecordLayer.headerByteCount..<total]),
                                    into: UnsafeMutableRawBufferPointer(out))
                    initialized = plaintextCount
                }
            }
            buffer.moveReaderIndex(forwardBy: total)
            if plaintext.isEmpty { continue }  // a key update: the opener has replaced its key
            guard deliver(try SessionMessage.decode(plaintext)) else { return false }
        }
        return true
    }

    // MARK: Sending

    /// How often a key that protected records is replaced (WireGuard's two minutes).
    /// `CLIPD_KEY_UPDATE_INTERVAL_MS` shortens it, for tests.
    static let keyUpdateInterval: TimeAmount = {
        if let text = getenv("CLIPD_KEY_UPDATE_INTERVAL_MS").map({ String(cString: $0) }), let ms = Int64(text), ms > 0 { return .milliseconds(ms) }
        return .minutes(2)
    }()

    /// Sends a key update when the current key protected anything, so no key that is
    /// found in memory later opens more than the last interval's records.
    func updateKeyIfUsed(to sink: some RecordSink) throws {
        guard sealer.recordsUnderKey > 0 else { return }
        let record = try sealer.sealKeyUpdate()
        sink.write(sink.allocator.buffer(bytes: record), flush: true)
    }

    /// Seals and writes one message. A DATA message's pieces are sealed where they lie.
    /// Returns false when the session has reached its record limit and must end.
    func send(_ message: SessionMessage, to sink: some RecordSink, flush: Bool) throws -> Bool {
        if case .data(let data) = message {
            let header = SessionMessage.dataHeader(requestID: data.requestID, offset: data.offset)
            return try header.withUnsafeBytes { h in try withParts(data.parts[...], [h]) { try write($0, to: sink, flush: flush) } }
        }
        return try message.encoded().withUnsafeBytes { try write([$0], to: sink, flush: flush) }
    }

    /// Pins every part's bytes and hands their pointers on at once.
    private func withParts<R>(_ parts: ArraySlice<ArraySlice<UInt8>>, _ pinned: [UnsafeRawBufferPointer], _ body: ([UnsafeRawBufferPointer]) throws -> R) throws -> R {
        guard let first = parts.first else { return try body(pinned) }
        return try first.withUnsafeBytes { try withParts(parts.dropFirst(), pinned + [$0], body) }
    }

    private func write(_ parts: [UnsafeRawBufferPointer], to sink: some RecordSink, flush: Bool) throws -> Bool {
        let size = RecordSealer.sealedSize(plaintextCount: parts.reduce(0) { $0 + $1.count })
        var out = sink.allocator.buffer(capacity: size)
        try out.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            try sealer.seal(plaintextParts: parts, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<size]))
            return size
        }
        sink.write(out, flush: flush)
        return !sealer.needsRehandshake
    }

    /// Sends the engine's item bytes for `session` for as long as the socket is writable
    /// and the engine has some. Returns false when the session must end. A call made while
    /// a pull is under way (the flush at its end can make the socket writable again, and
    /// NIO says so at once) makes that pull go round once more, so no wake-up is lost.
    func pump(session: SessionID, host: SessionHost, to sink: some RecordSink) throws -> Bool {
        guard !pumping else {
            pumpAgain = true
            return true
        }
        pumping = true
        defer { pumping = false }
        repeat {
            pumpAgain = false
            var wrote = false
            while sink.isWritable, let message = host.nextStreamMessage(on: session) {
                wrote = true
                guard try send(message, to: sink, flush: false) else { return false }
            }
            if wrote { sink.flush() }
        } while pumpAgain
        return true
    }
}
