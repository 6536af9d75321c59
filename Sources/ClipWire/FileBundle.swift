/// Files copied in a file manager, carried with the item that names them: the item's
/// `text/uri-list` keeps the origin's URIs, and a representation of type
/// `FileBundle.mimeType` holds the files and directories behind them, so that a peer can
/// recreate them and paste URIs of its own copies (protocol/files.md).
///
/// Pure: bytes in, entries out, every path checked so that extracting a bundle can never
/// write outside its directory.
public struct FileBundle: Equatable, Sendable {
    public static let mimeType = "application/x-clipd-file-bundle"
    static let magic: [UInt8] = Array("CLPF".utf8)
    static let version: UInt8 = 1
    /// Most entries one bundle may hold.
    public static let maximumEntries = 100_000

    /// One file or directory the origin copied: the URI it had there and the name it gets in
    /// the bundle (unique among the roots).
    public struct Root: Equatable, Sendable {
        public let uri: String
        public let name: String
        public init(uri: String, name: String) {
            self.uri = uri
            self.name = name
        }
    }

    public struct Entry: Equatable, Sendable {
        public enum Kind: UInt8, Sendable { case directory = 1, file = 2 }
        public let kind: Kind
        /// Relative, `/`-separated; its first component is a root's name.
        public let path: String
        /// Permission bits (at most 0o777).
        public let mode: UInt16
        public let bytes: [UInt8]
        public init(kind: Kind, path: String, mode: UInt16, bytes: [UInt8] = []) {
            self.kind = kind
            self.path = path
            self.mode = mode
            self.bytes = bytes
        }
    }

    public let roots: [Root]
    /// Directories come before what they hold.
    public let entries: [Entry]

    public init(roots: [Root], entries: [Entry]) {
        self.roots = roots
        self.entries = entries
    }

    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + entries.reduce(0) { $0 + $1.path.utf8.count + $1.bytes.count + 16 })
        w.raw(Self.magic)
        w.u8(Self.version)
        w.u16(UInt16(roots.count))
        for root in roots {
            w.blob16(Array(root.uri.utf8))
            w.blob16(Array(root.name.utf8))
        }
        w.u32(UInt32(entries.count))
        for entry in entries {
            w.u8(entry.kind.rawValue)
            w.blob16(Array(entry.path.utf8))
            w.u16(entry.mode)
            if entry.kind == .file {
                w.u64(UInt64(entry.bytes.count))
                w.raw(entry.bytes)
            }
        }
        return w.bytes
    }

    /// Decodes and checks a bundle: names and paths relative, without `.` or `..`
    /// components, every path under a root, every parent directory listed before it.
    public static func decode(_ bytes: [UInt8]) throws -> FileBundle {
        var r = ByteReader(bytes, context: "file bundle")
        guard try r.raw(4) == magic else { throw WireError.malformed("file bundle: bad magic") }
        let version = try r.u8()
        guard version == Self.version else { throw WireError.unsupportedVersion(version) }
        var roots: [Root] = []
        var names = Set<String>()
        for _ in 0..<Int(try r.u16()) {
            let uri = try text(&r)
            let name = try text(&r)
            if let problem = componentProblem(name) ?? (names.insert(name).inserted ? nil : "names two roots") {
                throw WireError.malformed("file bundle: root name '\(Printable.text(name))' \(problem)")
            }
            roots.append(Root(uri: uri, name: name))
        }
        let count = Int(try r.u32())
        guard count <= maximumEntries else { throw WireError.tooLarge("file bundle with \(count) entries") }
        var entries: [Entry] = []
        var directories = Set<String>()
        var paths = Set<String>()
        for _ in 0..<count {
            guard let kind = Entry.Kind(rawValue: try r.u8()) else { throw WireError.malformed("file bundle: entry kind") }
            let path = try text(&r)
            let mode = try r.u16()
            let components = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard components.allSatisfy(isComponent), mode <= 0o777, names.contains(components[0]),
                  components.count == 1 || directories.contains(components.dropLast().joined(separator: "/")),
                  paths.insert(path).inserted  // twice would fail half-way through writing
            else { throw WireError.malformed("file bundle: path '\(Printable.text(path))'") }
            var content: [UInt8] = []
            if kind == .file {
                let size = try r.u64()
                guard size <= UInt64(r.remaining) else { throw WireError.truncated("file bundle") }
                content = try r.raw(Int(size))
            } else {
                directories.insert(path)
            }
            entries.append(Entry(kind: kind, path: path, mode: mode, bytes: content))
        }
        try r.expectEnd()
        return FileBundle(roots: roots, entries: entries)
    }

    private static func text(_ r: inout ByteReader) throws -> String {
        guard let s = String(validating: try r.blob16(), as: UTF8.self) else { throw WireError.malformed("file bundle: a name is not UTF-8") }
        return s
    }

    /// One path component a bundle may use.
    static func isComponent(_ name: String) -> Bool { componentProblem(name) == nil }

    /// Why `name` is no path component a bundle may use, in words (a NUL shows as `?` once
    /// printable, so the error says what it was); nil when it is one.
    static func componentProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name == "." || name == ".." { return "is '.' or '..'" }
        if name.contains("/") { return "holds a '/'" }
        if name.utf8.contains(0) { return "holds a NUL byte" }
        return nil
    }
}

/// `text/uri-list` (RFC 2483): one URI a line, `#` lines are comments, lines end in CR LF
/// (LF is accepted).
public enum URIList {
    /// The URIs, in order. What real owners add around them is not part of any: C
    /// terminators (pcmanfm ends its list with a NUL), blanks at either end of a line. A line
    /// that still holds a control character is no URI (RFC 3986 has none) and is left out.
    public static func uris(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { line in String(line.drop(while: isPadding).reversed().drop(while: isPadding).reversed()) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.unicodeScalars.contains { $0.properties.generalCategory == .control } }
    }

    private static func isPadding(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\r" || character == "\0"
    }

    /// Whether `uri` names a file (its scheme is `file`, in any case and any form:
    /// `file:///p`, `file:/p`, `file://host/p`).
    public static func isFileURI(_ uri: String) -> Bool {
        uri.utf8.count >= 5 && uri.prefix(5).lowercased() == "file:"
    }

    /// The local path a `file:` URI names (no host, or `localhost`), percent-decoded.
    public static func localPath(_ uri: String) -> String? {
        guard uri.hasPrefix("file://") else { return nil }
        var rest = uri.dropFirst("file://".count)
        if rest.hasPrefix("localhost/") { rest = rest.dropFirst("localhost".count) }
        guard rest.hasPrefix("/") else { return nil }
        var out: [UInt8] = []
        var bytes = Array(rest.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%"), bytes.count >= 2, let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        guard !out.contains(0) else { return nil }  // no path holds a NUL
        return String(validating: out, as: UTF8.self)
    }

    /// A `file://` URI for a local path, percent-encoding what RFC 3986 does not allow.
    public static func fileURI(_ path: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/".utf8)
        let digits = Array("0123456789ABCDEF")
        var out = "file://"
        for byte in path.utf8 {
            if unreserved.contains(byte) {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0f)])
            }
        }
        return out
    }
}
