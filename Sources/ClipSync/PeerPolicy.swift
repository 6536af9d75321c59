import ClipWire

/// What this daemon exchanges with one paired peer (peers.toml, `direction`, `selections`,
/// `mime_types`). The engine enforces it on every path: offers received, offers relayed and
/// made at catch-up, and fetches served, so a relay never passes a peer what its policy keeps
/// from it.
///
/// A value type; safe to share between threads.
public struct PeerPolicy: Sendable, Equatable {
    /// Which way items go between this daemon and the peer.
    public enum Direction: String, Sendable, CaseIterable {
        /// Both ways (the default).
        case both
        /// Only from this daemon to the peer.
        case send
        /// Only from the peer to this daemon.
        case receive
        /// Neither: the peer stays paired and connected, and nothing is exchanged.
        case off
    }

    public var direction: Direction
    /// The selections exchanged with the peer.
    public var selections: Set<Selection>
    /// The MIME types exchanged with the peer: exact types or `type/*`; nil means any. An
    /// item goes when at least one of its representations is allowed.
    public var mimeTypes: [String]?

    public init(direction: Direction = .both, selections: Set<Selection> = Set(Selection.allCases), mimeTypes: [String]? = nil) {
        self.direction = direction
        self.selections = selections
        self.mimeTypes = mimeTypes
    }

    /// Everything both ways.
    public static let open = PeerPolicy()

    public var sends: Bool { direction == .both || direction == .send }
    public var receives: Bool { direction == .both || direction == .receive }

    /// Whether `mimeType` is in the allow-list (parameters and case do not matter).
    public func allows(mimeType: String) -> Bool {
        guard let mimeTypes else { return true }
        return mimeTypes.contains { Self.matches(pattern: $0, mimeType) }
    }

    /// Whether an item may go from the peer to this daemon.
    public func admitsFromPeer(_ header: ItemHeader) -> Bool { receives && carries(header) }

    /// Whether an item may go from this daemon to the peer.
    public func admitsToPeer(_ header: ItemHeader) -> Bool { sends && carries(header) }

    private func carries(_ header: ItemHeader) -> Bool {
        selections.contains(header.selection) && header.representations.contains { allows(mimeType: $0.mimeType) }
    }

    /// `text/*` matches every `text/...`; anything else matches itself. Parameters
    /// (`;charset=...`) and case are ignored on both sides.
    static func matches(pattern: String, _ mimeType: String) -> Bool {
        let type = essence(mimeType), wanted = essence(pattern)
        if wanted.hasSuffix("/*") { return type.hasPrefix(wanted.dropLast()) }
        return type == wanted
    }

    /// A MIME type without its parameters, lowercased.
    static func essence(_ mimeType: String) -> String {
        String((mimeType.split(separator: ";", maxSplits: 1).first ?? "").filter { $0 != " " && $0 != "\t" }).lowercased()
    }

    /// Problems with a policy's values, for a config error; nil when it is valid.
    public static func problem(inMIMEPatterns patterns: [String]) -> String? {
        for pattern in patterns {
            let e = essence(pattern)
            let parts = e.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts[0].contains("*"), parts[1] == "*" || !parts[1].contains("*") else {
                return "'\(pattern)' is not a MIME type or a type/* pattern"
            }
        }
        return nil
    }
}
