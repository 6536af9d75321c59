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
    /// that GTK, Qt, Xt and terminal programs all find it. STRING is Latin-1 by ICCCM;
    /// clipd serves UTF-8 there too, as most owners do.
    public static let textAliases = [textMIME, "text/plain", "UTF8_STRING", "TEXT", "STRING"]

    /// The text names clipd reads, best first. TEXT is left out: its owner picks the
    /// encoding (often COMPOUND_TEXT). STRING, last, is converted from Latin-1.
    static let readableText = [textMIME, "UTF8_STRING", "text/plain", "STRING"]

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

    /// Text read under `name`, as UTF-8: a trailing C terminator dropped, STRING converted
    /// from Latin-1.
    public static func utf8Text(_ bytes: [UInt8], readAs name: String) -> [UInt8] {
        var text = bytes
        if text.last == 0 { text.removeLast() }
        guard normalized(name) == "STRING" else { return text }
        return Array(String(String.UnicodeScalarView(text.map { Unicode.Scalar($0) })).utf8)
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
