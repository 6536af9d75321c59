import ClipSync
import ClipboardBackends
import ClipWire

/// A peer's item with a `text/uri-list` but no files: the list as this machine shows it,
/// without its `file:` URIs. A path a peer names without sending the file is a path on
/// this machine: shown, a file manager's paste would copy the local file, and a clipboard
/// manager's re-copy would have clipd bundle it and send it to every peer. Links of other
/// schemes stay; the other representations are served as they are.
///
/// A value; its readers run on the daemon's loop.
struct PeerURIListContent: ItemContent {
    let daemon: Daemon
    let header: ItemHeader
    let heldItem: ClipItem?
    let base: ItemContent
    /// The index of the `text/uri-list` representation.
    let list: Int

    /// Never whole: the list is made when pasted.
    var held: ClipItem? { nil }

    func makeReader(representation: Int) -> ItemReader {
        guard representation == list else { return base.makeReader(representation: representation) }
        return DerivedBytesReader(daemon: daemon) { [daemon, header, heldItem, list] finish in
            WholeRead.start(daemon: daemon, header: header, held: heldItem, representation: list) { result in
                finish(result.map(Self.withoutFiles))
            }
        }
    }

    /// The list's URIs that are not `file:` URIs, each ending in CR LF.
    static func withoutFiles(_ list: [UInt8]) -> [UInt8] {
        Array(URIList.uris(list).filter { !URIList.isFileURI($0) }.map { $0 + "\r\n" }.joined().utf8)
    }
}
