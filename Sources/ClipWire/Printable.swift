/// Text from outside (a peer, a guest, a desktop application, a file) made safe to print on
/// a terminal or write to a log: the one place that decides what is shown as is.
///
/// Control characters (escape sequences that rewrite a terminal, newlines that forge log
/// lines), format characters (bidi overrides, zero-width marks that make one name look like
/// another), separators, private-use, unassigned and surrogate code points become `?`.
/// Pure; callable from any thread.
public enum Printable {
    /// `text` with every character that is not safe to show replaced by `?`.
    public static func text(_ text: String) -> String {
        replacingUnsafe(in: text) { _ in false }
    }

    /// Like `text`, but keeps line breaks and tabs: for output this program formats itself
    /// (a command's lines, tab-separated columns), where every field from outside has
    /// already been made printable, and this is the last guard before the terminal.
    public static func lines(_ text: String) -> String {
        replacingUnsafe(in: text) { $0 == "\n" || $0 == "\t" }
    }

    /// `text` with each unsafe character that `kept` does not keep replaced by `?`; the
    /// text itself, uncopied, when there is none.
    private static func replacingUnsafe(in text: String, keeping kept: (Unicode.Scalar) -> Bool) -> String {
        guard text.unicodeScalars.contains(where: { isUnsafe($0) && !kept($0) }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { out.append(isUnsafe(scalar) && !kept(scalar) ? "?" : scalar) }
        return String(out)
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .unassigned, .surrogate: true
        default: false
        }
    }
}
