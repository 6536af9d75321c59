import ClipCrypto
import ClipSync
import ClipboardBackends
import ClipWire
import Foundation

/// Tells a clipboard manager putting an older entry of its history back on the desktop from
/// a person copying. Managers such as clipit and parcellite "restore" their newest entry when
/// they find the clipboard empty; one that does so just as clipd hands the desktop a newer
/// item from a peer re-posts text clipd already knew as older, and taken as a copy, that
/// text would become the newest item everywhere and the person's real copy would be lost.
///
/// A desktop copy is a restore when it comes within `window` of clipd giving the desktop an
/// item, and its text is that of an item this daemon knew that is older than the current
/// one. The same text copied again later is a copy like any other.
///
/// Confined to the daemon's loop.
struct RestoreGuard {
    /// How soon after clipd gives the desktop an item a re-post of older text is taken for a
    /// manager's restore (managers that poll look every half second; a loaded machine adds
    /// its own delay).
    static let window = 2.0
    /// How many items' texts are remembered.
    static let remembered = 32

    private var given: [Selection: Double] = [:]
    /// Digests of the texts of items this machine had, newest last.
    private var known: [(selection: Selection, digest: [UInt8], clock: HybridTimestamp)] = []

    /// clipd gave the desktop `header`'s item (from a peer, or `clipd send`) at `now`.
    mutating func gaveDesktop(_ header: ItemHeader, held: ClipItem?, now: Double = RestoreGuard.now()) {
        given[header.selection] = now
        remember(header, held: held)
    }

    /// An item this machine has: its text is remembered, when it has text that is here.
    mutating func remember(_ header: ItemHeader, held: ClipItem?) {
        guard let held, let digest = Self.digest(of: held) else { return }
        known.removeAll { $0.selection == header.selection && $0.digest == digest }
        known.append((header.selection, digest, header.clock))
        if known.count > Self.remembered { known.removeFirst(known.count - Self.remembered) }
    }

    /// Whether `copy` is a manager's restore of an older item, given the current item.
    func isRestore(_ copy: LocalCopy, current: ClipItem?, now: Double = RestoreGuard.now()) -> Bool {
        guard let given = given[copy.selection], now - given < Self.window, let current,
              let text = copy.representations.first(where: { ClipboardPolicy.isTextAlias($0.mimeType) })?.bytes
        else { return false }
        let digest = SHA256.hash(text)
        guard Self.digest(of: current) != digest else { return false }
        return known.contains { $0.selection == copy.selection && $0.digest == digest && $0.clock < current.header.clock }
    }

    /// Seconds since boot: the guard's clock.
    static func now() -> Double { ProcessInfo.processInfo.systemUptime }

    /// The digest of an item's text, if it has text.
    private static func digest(of item: ClipItem) -> [UInt8]? {
        guard let index = item.header.representations.firstIndex(where: { ClipboardPolicy.isTextAlias($0.mimeType) }) else { return nil }
        return SHA256.hash(Array(item.bytes(representation: index)))
    }
}
