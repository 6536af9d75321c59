import ClipWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The file system side of copied files (protocol/files.md): reads what a `text/uri-list`
/// names into a `FileBundle` on the copying machine, writes a bundle out on the pasting
/// one, and rewrites the list to name the copies. Blocking I/O: call it off the event loop.
enum FileBundler {
    /// A bundle of the local files and directories `uriList` names, or nil when it names
    /// none. Symbolic links and special files are left out. Throws a one-line error when the
    /// files add up to more than `limit` bytes or cannot be read.
    static func bundle(uriList: [UInt8], limit: UInt64) throws -> FileBundle? {
        var roots: [FileBundle.Root] = []
        var entries: [FileBundle.Entry] = []
        var total: UInt64 = 0
        var names = Set<String>()
        for uri in URIList.uris(uriList) {
            guard let path = URIList.localPath(uri), let kind = kind(of: path) else { continue }
            var name = (path as NSString).lastPathComponent
            if name.isEmpty || name == "/" { name = "root" }
            let base = name
            var n = 2
            while !names.insert(name).inserted {
                name = "\(base) (\(n))"
                n += 1
            }
            roots.append(FileBundle.Root(uri: uri, name: name))
            try add(path, as: name, kind: kind, into: &entries, total: &total, limit: limit)
        }
        return roots.isEmpty ? nil : FileBundle(roots: roots, entries: entries)
    }

    private static func kind(of path: String) -> FileBundle.Entry.Kind? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return nil  // links, devices, sockets: not copied
        }
    }

    private static func mode(of path: String) -> UInt16 {
        var info = stat()
        return lstat(path, &info) == 0 ? UInt16(info.st_mode & 0o777) : 0o644
    }

    private static func add(_ path: String, as bundlePath: String, kind: FileBundle.Entry.Kind, into entries: inout [FileBundle.Entry],
                            total: inout UInt64, limit: UInt64) throws {
        guard entries.count < FileBundle.maximumEntries else { throw DaemonError("the copied files hold more than \(FileBundle.maximumEntries) entries") }
        if kind == .file {
            guard let data = FileManager.default.contents(atPath: path) else { throw DaemonError("cannot read the copied file \(Printable.text(path))") }
            total += UInt64(data.count)
            guard total <= limit else { throw DaemonError("the copied files are over --max-size \(SizeParser.format(limit))") }
            entries.append(FileBundle.Entry(kind: .file, path: bundlePath, mode: mode(of: path), bytes: [UInt8](data)))
            return
        }
        entries.append(FileBundle.Entry(kind: .directory, path: bundlePath, mode: mode(of: path)))
        let children = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for child in children.sorted() {
            let childPath = path + "/" + child
            guard let childKind = Self.kind(of: childPath) else { continue }
            try add(childPath, as: bundlePath + "/" + child, kind: childKind, into: &entries, total: &total, limit: limit)
        }
    }

    /// Writes the bundle's roots into `directory` (made private, emptied first). Files are
    /// created exclusively and never through a link, so nothing outside `directory` is
    /// touched whatever the bundle says.
    static func extract(_ bundle: FileBundle, into directory: String) throws {
        try? FileManager.default.removeItem(atPath: directory)
        guard mkdir(directory, 0o700) == 0 else { throw DaemonError("cannot create \(directory): \(errnoText())") }
        for entry in bundle.entries {
            let path = directory + "/" + entry.path
            switch entry.kind {
            case .directory:
                guard mkdir(path, mode_t(entry.mode | 0o700)) == 0 else { throw DaemonError("cannot create \(Printable.text(path)): \(errnoText())") }
            case .file:
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(entry.mode | 0o600))
                guard fd >= 0 else { throw DaemonError("cannot create \(Printable.text(path)): \(errnoText())") }
                defer { close(fd) }
                var written = 0
                while written < entry.bytes.count {
                    let n = entry.bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw DaemonError("cannot write \(Printable.text(path)): \(errnoText())") }
                    written += n
                }
            }
        }
    }

    /// The list with every URI of a bundled root replaced by the URI of its copy in
    /// `directory`. Other `file:` URIs are left out: a peer's list names on this machine
    /// only copies of files the peer sent (a path it names without sending the file would
    /// be a file of this machine, which a clipboard manager's re-copy would bundle and send
    /// to every peer). URIs of other schemes stay. Lines end in CR LF (RFC 2483).
    static func rewrite(uriList: [UInt8], bundle: FileBundle, directory: String) -> [String] {
        URIList.uris(uriList).compactMap { uri in
            if let root = bundle.roots.first(where: { $0.uri == uri }) { return URIList.fileURI(directory + "/" + root.name) }
            return URIList.isFileURI(uri) ? nil : uri
        }
    }
}
