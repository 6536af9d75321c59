import ClipSync
import ClipWire
import Foundation

/// A text representation served as STRING: its UTF-8 converted to Latin-1 (ICCCM), or
/// refused when the text holds a character Latin-1 has no byte for. Shared by the X11 owner
/// and the Wayland writer, which both offer STRING among the text names.
enum Latin1View {
    /// The STRING value of representation `representation` of an item, as a one-representation
    /// item: held and converted now when its bytes are here (nil when they have no Latin-1
    /// form), else converted as it is read (its header giving the UTF-8 size, an upper bound).
    static func of(_ header: ItemHeader, content: ItemContent, representation: Int) -> (header: ItemHeader, content: ItemContent)? {
        if let held = content.held {
            guard let bytes = Latin1.latin1(fromUTF8: held.bytes(representation: representation)) else { return nil }
            let converted = ItemHeader(selection: header.selection, id: header.id, clock: header.clock,
                                       representations: [RepresentationInfo(mimeType: "STRING", size: UInt64(bytes.count))])
            return (converted, HeldContent(ClipItem(header: converted, data: bytes)))
        }
        let shown = ItemHeader(selection: header.selection, id: header.id, clock: header.clock,
                               representations: [RepresentationInfo(mimeType: "STRING", size: header.representations[representation].size)])
        return (shown, ConvertedContent(base: content, representation: representation))
    }

    /// A representation read whole, then served as Latin-1.
    struct ConvertedContent: ItemContent {
        let base: ItemContent
        let representation: Int
        var held: ClipItem? { nil }
        func makeReader(representation _: Int) -> ItemReader { Latin1Reader(base: base.makeReader(representation: representation)) }
    }
}

/// Reads a text representation to its end, converts it to Latin-1 and serves that; a text
/// Latin-1 cannot hold fails every read with one line.
///
/// Threading: reads come one at a time from any thread; the base reader answers on any
/// thread. Sound as `@unchecked Sendable`: `text`, `converted` and `failure` are only
/// touched under `lock`; `base` is immutable and itself Sendable.
final class Latin1Reader: ItemReader, @unchecked Sendable {
    private let lock = NSLock()
    private let base: ItemReader
    private var text: [UInt8] = []
    private var converted: [UInt8]?
    private var failure: String?

    init(base: ItemReader) { self.base = base }

    func read(from offset: UInt64, deliver: @escaping @Sendable (ReadOutcome) -> Void) {
        lock.lock()
        let (done, failed, readFrom) = (converted, failure, UInt64(text.count))
        lock.unlock()
        if let failed { return deliver(.failed(failed)) }
        if let done { return deliver(offset < UInt64(done.count) ? .bytes(done[Int(offset)...]) : .end) }
        base.read(from: readFrom) { [self] outcome in
            switch outcome {
            case .bytes(let piece):
                lock.withLock { text += piece }
            case .end:
                lock.withLock {
                    converted = Latin1.latin1(fromUTF8: text)
                    if converted == nil { failure = "the text has characters Latin-1 (STRING) cannot hold; UTF8_STRING has it" }
                    text = []
                }
            case .failed(let reason):
                lock.withLock { failure = reason }
            case .pending:
                break
            }
            read(from: offset, deliver: deliver)
        }
    }

    func close() { base.close() }
}
