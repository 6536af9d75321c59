import ClipCrypto
import ClipWire
import Foundation

/// When each paired peer's session last opened and closed, for `clipd peers` and `clipd
/// doctor`. Kept in the state directory (`last-contact`, one `DEVICE-ID SECONDS` line per
/// peer) when the daemon stops, so a restarted daemon still knows when it last saw a peer;
/// a crash loses only what changed since the last start.
///
/// Not thread-safe: the daemon owns it on its event loop.
final class ContactLog {
    private let path: String
    /// Peers with a session now, and since when.
    private var connectedSince: [DeviceID: Date] = [:]
    /// When each peer's last session ended (or, read from the file, the daemon stopped).
    private var lastSeen: [DeviceID: Date] = [:]
    /// The file as it was read or last written ("" when there was none).
    private var written: String

    init(path: String) {
        self.path = path
        let text = (try? PrivateFiles.read(path)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
        written = text
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let bytes = [UInt8](hex: String(fields[0])), bytes.count == DeviceID.byteCount,
                  let seconds = TimeInterval(fields[1]) else { continue }
            lastSeen[DeviceID(bytes: bytes)] = Date(timeIntervalSince1970: seconds)
        }
    }

    func opened(_ peer: DeviceID, at now: Date = Date()) { connectedSince[peer] = now }

    func closed(_ peer: DeviceID, at now: Date = Date()) {
        connectedSince[peer] = nil
        lastSeen[peer] = now
    }

    /// "connected for 3 min", "last contact 2 days ago", or "no contact yet".
    func describe(_ peer: DeviceID, now: Date = Date()) -> String {
        if let since = connectedSince[peer] { return "connected for \(Daemon.duration(since: since, now: now))" }
        if let seen = lastSeen[peer] { return "last contact \(Daemon.duration(since: seen, now: now)) ago" }
        return "no contact yet"
    }

    /// Writes the file: sessions still open count as seen now. Peers in `keep` only (an
    /// unpaired peer is forgotten). Nothing is written when the file would not change (a
    /// daemon that failed to start leaves no new file behind).
    func save(keeping keep: Set<DeviceID>, now: Date = Date()) throws {
        for peer in connectedSince.keys { lastSeen[peer] = now }
        let lines = lastSeen.filter { keep.contains($0.key) }.sorted { $0.key.description < $1.key.description }
            .map { "\($0.key) \(Int($0.value.timeIntervalSince1970))\n" }
        let text = lines.joined()
        guard text != written else { return }
        try PrivateFiles.writeAtomically(path, contents: Array(text.utf8))
        written = text
    }
}
