import ClipWire
import Foundation

/// What a backend reads from a desktop owner and how it names what it owns. Shared by the
/// X11 and Wayland backends, which both speak in type names (X atoms' names, Wayland MIME
/// strings), so the two behave alike.
public struct ClipboardPolicy: Sendable {
    /// Sync items a password manager marked `x-kde-passwordManagerHint: secret`.
    public var syncSecrets = false
    /// MIME types to sync besides text, text/html, text/uri-list and image/*.
    public var extraMIMETypes: Set<String> = []
    /// The largest item to read from the desktop; a reader stops at this many bytes.
    public var maximumItemSize = Int.max

    public init(syncSecrets: Bool = false, extraMIMETypes: Set<String> = [], maximumItemSize: Int = .max) {
        self.syncSecrets = syncSecrets
        self.extraMIMETypes = extraMIMETypes
        self.maximumItemSize = maximumItemSize
    }

    /// The MIME type every text representation is stored under.
    public static let textMIME = "text/plain;charset=utf-8"

    /// The names a text representation is offered under when clipd owns a selection, so
    /// that GTK, Qt, Xt and terminal programs all find it. STRING is Latin-1 (ICCCM): it is
    /// served converted, and refused for text Latin-1 cannot hold.
    public static let textAliases = [textMIME, "text/plain", "UTF8_STRING", "TEXT", "STRING"]

    /// The text names clipd reads, best first. UTF8_STRING leads: it is the owner's text as
    /// it is, while toolkits treat `text/plain` targets as MIME text and give them CR LF
    /// line ends (GTK does; RFC 2046's canonical form). TEXT is left out: its owner picks
    /// the encoding (often COMPOUND_TEXT). STRING, last, is converted from Latin-1.
    static let readableText = ["UTF8_STRING", textMIME, "text/plain", "STRING"]

    /// The type a password manager offers to mark an item.
    public static let passwordHint = "x-kde-passwordManagerHint"

    /// Whether `name` means text (any alias, any spelling of the charset parameter).
    public static func isTextAlias(_ name: String) -> Bool {
        textAliases.contains(normalized(name))
    }

    /// The names to read from an owner offering `offered`, each with the MIME type it is
    /// stored under. Text comes once, from the best text name offered.
    public func choose(offered: [String]) -> [(offered: String, storedAs: String)] {
        var wanted: [(offered: String, storedAs: String)] = []
        let spellings = offered.map(Self.normalized)
        for text in Self.readableText {
            if let index = spellings.firstIndex(of: text) {
                wanted.append((offered[index], Self.textMIME))
                break
            }
        }
        for name in offered where !Self.isTextAlias(name) && name.contains("/") {
            guard !wanted.contains(where: { $0.storedAs == name }), wanted.count < ItemHeader.maximumRepresentations else { continue }
            if name == "text/html" || name == "text/uri-list" || name.hasPrefix("image/") || extraMIMETypes.contains(name) {
                wanted.append((name, name))
            }
        }
        return wanted
    }

    /// Whether a representation of a peer's item may be offered on this desktop: the types
    /// clipd reads from it (text, HTML, URI lists, images, `extraMIMETypes`). Anything else
    /// stays off the desktop: `x-special/gnome-copied-files` saying `cut` from a peer, say,
    /// would have a file manager move local files on paste.
    public func writesToDesktop(mimeType name: String) -> Bool {
        Self.isTextAlias(name) || name == "text/html" || name == "text/uri-list" || name.hasPrefix("image/") || name == Self.passwordHint
            || extraMIMETypes.contains(name)
    }

    /// A value read from a desktop owner under `name` and stored as `storedAs`, as clipd
    /// keeps it: text-like values (text, HTML, URI lists, file-manager lists) lose the C
    /// terminators some owners send after them (pcmanfm ends its `text/uri-list` with a NUL,
    /// which would otherwise end up in the last file's name); text read as STRING is
    /// converted from Latin-1. Other values are kept byte for byte.
    /// UTF-16 (Firefox has offered `text/html` so, after a byte-order mark) is kept whole: its
    /// last code unit may end in a zero byte.
    public static func storedValue(_ bytes: [UInt8], readAs name: String, storedAs: String) -> [UInt8] {
        guard isTextLike(storedAs), !startsWithUTF16Mark(bytes) else { return bytes }
        var value = bytes
        while value.last == 0 { value.removeLast() }
        return normalized(name) == "STRING" ? Latin1.utf8(fromLatin1: value) : value
    }

    private static func startsWithUTF16Mark(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF))
    }

    /// Whether values of a type are text clipd reads as UTF-8 or ASCII, where a trailing NUL
    /// is a C terminator and never part of the value: the text names, HTML, URI lists and
    /// file managers' lists of copied files. Other `text/*` types stay byte for byte (Firefox's
    /// `text/x-moz-url` is UTF-16 without a byte-order mark).
    static func isTextLike(_ mimeType: String) -> Bool {
        isTextAlias(mimeType) || ["text/html", "text/uri-list", "x-special/gnome-copied-files"].contains(mimeType)
    }

    /// Whether an item whose password hint reads `hint` must stay on this machine.
    public func keepsLocal(hint: [UInt8]) -> Bool { !syncSecrets && Self.marksSecret(hint: hint) }

    /// Whether a password hint's value marks its item secret.
    public static func marksSecret(hint: [UInt8]) -> Bool {
        String(decoding: hint, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "secret"
    }

    /// The copy as synced: a secret item (synced because `sync_secrets` is on) keeps its
    /// hint as a representation of its own, last, so peers' desktops and `recv --watch`
    /// (CLIPBOARD_STATE=sensitive) know it for what it is.
    static func withHint(_ collected: [(mimeType: String, bytes: [UInt8])], hint: [UInt8]?) -> [(mimeType: String, bytes: [UInt8])] {
        guard let hint, marksSecret(hint: hint), !collected.isEmpty else { return collected }
        return collected + [(passwordHint, Array("secret".utf8))]
    }

    /// `text/plain; charset=UTF-8` and `text/plain;charset=utf-8` are one type.
    static func normalized(_ name: String) -> String {
        guard name.contains(";") else { return name }
        return name.lowercased().filter { $0 != " " }
    }
}
