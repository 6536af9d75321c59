import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// What strangers did, summed up instead of logged one by one: a connection that ended
/// before authenticating (garbage, a bad frame, a handshake that timed out, an unknown key)
/// is counted by reason and by source address, and the counts go to the log in one line at
/// most once a period. A flood then costs a line a minute, not a line a connection (it
/// wrote 212 MB in 25 minutes). Unknown keys are dropped without a word on the wire, as
/// WireGuard does; here they are only counted. No timer runs while nothing is counted.
///
/// Confined to the daemon's event loop.
final class StrangerLog {
    /// How often at most a summary is written: a minute, or `CLIPD_STRANGER_LOG_MS` (tests).
    static let period: TimeAmount = {
        if let text = getenv("CLIPD_STRANGER_LOG_MS").map({ String(cString: $0) }), let ms = Int64(text), ms > 0 { return .milliseconds(ms) }
        return .minutes(1)
    }()
    /// Addresses named in a summary; the rest are counted.
    static let namedAddresses = 5

    private let loop: EventLoop
    private let logger: Logger
    private var reasons: [String: Int] = [:]
    private var addresses: [String: Int] = [:]
    private var flush: Scheduled<Void>?

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
    }

    /// A connection from `address` ended before authenticating, for `reason`.
    func record(_ reason: String, from address: String) {
        reasons[Self.kind(of: reason), default: 0] += 1
        addresses[address, default: 0] += 1
        guard flush == nil else { return }
        let this = NIOLoopBound(self, eventLoop: loop)
        flush = loop.scheduleTask(in: Self.period) { this.value.write() }
    }

    /// Writes the summary now (also when the daemon stops), and forgets the counts.
    func write() {
        flush?.cancel()
        flush = nil
        guard !reasons.isEmpty else { return }
        let total = reasons.values.reduce(0, +)
        let byReason = reasons.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let top = addresses.sorted { $0.value > $1.value }
        var byAddress = top.prefix(Self.namedAddresses).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        if top.count > Self.namedAddresses { byAddress += ", and \(top.count - Self.namedAddresses) more addresses" }
        logger.notice("\(total) connections ended before authenticating (\(byReason)) from \(byAddress)")
        reasons.removeAll()
        addresses.removeAll()
    }

    /// A reason without what varies from one connection to the next (sizes, kinds).
    static func kind(of reason: String) -> String {
        String(reason.prefix { $0 != ":" && $0 != "(" }).trimmingCharacters(in: .whitespaces)
    }
}
