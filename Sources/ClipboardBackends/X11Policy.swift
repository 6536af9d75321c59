import CX11
import ClipWire

/// Which of an owner's targets the X11 backend reads, and what it makes of the answers.
public struct X11Policy: Sendable {
    /// Sync items a password manager marked `x-kde-passwordManagerHint: secret`.
    public var syncSecrets = false
    /// MIME-named targets to sync besides text, text/html, text/uri-list and image/*.
    public var extraMIMETypes: Set<String> = []

    public init(syncSecrets: Bool = false, extraMIMETypes: Set<String> = []) {
        self.syncSecrets = syncSecrets
        self.extraMIMETypes = extraMIMETypes
    }

    /// The targets to request, each with the MIME type it is stored under. Text comes once,
    /// from the best text target offered, as text/plain;charset=utf-8.
    func choose(targets: [Atom], atoms: X11Atoms, name: (Atom) -> String?) -> [(target: Atom, mimeType: String)] {
        var wanted: [(target: Atom, mimeType: String)] = []
        if let text = [atoms.utf8String, atoms.textPlainUTF8, atoms.string].first(where: targets.contains) {
            wanted.append((text, textMIME))
        }
        for target in targets where !atoms.textTargets.contains(target) {
            guard let mime = name(target), mime.contains("/"), !wanted.contains(where: { $0.mimeType == mime }) else { continue }
            let synced = mime == "text/html" || mime == "text/uri-list" || mime.hasPrefix("image/") || extraMIMETypes.contains(mime)
            if synced && wanted.count < ItemHeader.maximumRepresentations { wanted.append((target, mime)) }
        }
        return wanted
    }

    /// The bytes to keep for a requested target, or nil when the owner answered with
    /// something else (some owners answer every target with their one type).
    func accept(requested: Atom, returnedType: Atom, bytes: [UInt8], atoms: X11Atoms) -> [UInt8]? {
        if atoms.textTargets.contains(requested) {
            var text = bytes
            if text.last == 0 { text.removeLast() }  // some owners add a C terminator
            if returnedType == atoms.string {
                // STRING is Latin-1: each byte is the code point.
                return Array(String(String.UnicodeScalarView(text.map { Unicode.Scalar($0) })).utf8)
            }
            return [atoms.utf8String, atoms.textPlainUTF8, atoms.textPlain, atoms.text].contains(returnedType) ? text : nil
        }
        return returnedType == requested ? bytes : nil
    }
}
