import CX11

/// The atoms the X11 backend uses, interned once per connection.
struct X11Atoms {
    let clipboard, primary, targets, timestamp, multiple, incr, atom, atomPair, integer: Atom
    let utf8String, string, text, textPlainUTF8, textPlain, passwordHint: Atom
    /// Where each selection's conversions land on our window: one property per selection, so
    /// CLIPBOARD and PRIMARY can be read at the same time.
    let clipboardProperty, primaryProperty: Atom

    init(display: OpaquePointer) {
        func intern(_ name: String) -> Atom { XInternAtom(display, name, 0) }
        clipboard = intern("CLIPBOARD")
        primary = intern("PRIMARY")
        targets = intern("TARGETS")
        timestamp = intern("TIMESTAMP")
        multiple = intern("MULTIPLE")
        incr = intern("INCR")
        atom = intern("ATOM")
        atomPair = intern("ATOM_PAIR")
        integer = intern("INTEGER")
        utf8String = intern("UTF8_STRING")
        string = intern("STRING")
        text = intern("TEXT")
        textPlainUTF8 = intern("text/plain;charset=utf-8")
        textPlain = intern("text/plain")
        clipboardProperty = intern("CLIPD_CLIPBOARD")
        primaryProperty = intern("CLIPD_PRIMARY")
        passwordHint = intern("x-kde-passwordManagerHint")
    }

    func selection(_ atom: Atom) -> Selection? {
        if atom == clipboard { return .clipboard }
        if atom == primary { return .primary }
        return nil
    }

    func atom(for selection: Selection) -> Atom { selection == .clipboard ? clipboard : primary }

    func property(for selection: Selection) -> Atom { selection == .clipboard ? clipboardProperty : primaryProperty }

    func selection(forProperty atom: Atom) -> Selection? {
        if atom == clipboardProperty { return .clipboard }
        if atom == primaryProperty { return .primary }
        return nil
    }

    /// Targets that mean "text". When clipd owns the selection they carry the item's UTF-8,
    /// except STRING: Latin-1 by ICCCM, converted (and refused for text Latin-1 cannot hold).
    var textTargets: [Atom] { [utf8String, textPlainUTF8, textPlain, string, text] }

    /// Names of the text atoms and the password hint, known without a round trip.
    func knownName(_ atom: Atom) -> String? {
        switch atom {
        case utf8String: "UTF8_STRING"
        case string: "STRING"
        case text: "TEXT"
        case textPlainUTF8: ClipboardPolicy.textMIME
        case textPlain: "text/plain"
        case passwordHint: ClipboardPolicy.passwordHint
        default: nil
        }
    }
}

import ClipWire
