import NIOCore

/// Connections accepted from the network that have not authenticated yet (no session and no
/// finished pairing): nobody can hold more of the daemon than these bounds, whatever they
/// open (issue 19, finding 2).
final class UnauthenticatedConnections {
    /// Most such connections in all, and from one address: past either bound the oldest
    /// (in all, or from that address) is dropped for the newcomer. A paired peer's
    /// handshake takes milliseconds, so it is never the oldest for long, even when it
    /// shares its address (a NAT, loopback) with whoever floods.
    static let maximumTotal = 256
    static let maximumPerAddress = 32

    private struct Entry { let connection: PeerConnection; let address: String; let since: NIODeadline }
    private var entries: [ObjectIdentifier: Entry] = [:]
    private var perAddress: [String: Int] = [:]

    /// Takes a new connection from `address`, closing the oldest other one (from that
    /// address, or at all) when a bound is reached.
    func admit(_ connection: PeerConnection, from address: String) {
        if perAddress[address, default: 0] >= Self.maximumPerAddress {
            dropOldest(entries.values.filter { $0.address == address })
        }
        if entries.count >= Self.maximumTotal { dropOldest(Array(entries.values)) }
        entries[ObjectIdentifier(connection)] = Entry(connection: connection, address: address, since: .now())
        perAddress[address, default: 0] += 1
    }

    private func dropOldest(_ candidates: [Entry]) {
        guard let oldest = candidates.min(by: { $0.since < $1.since }) else { return }
        remove(oldest.connection)
        oldest.connection.close(reason: nil)
    }

    /// The connection authenticated or closed.
    func remove(_ connection: PeerConnection) {
        guard let entry = entries.removeValue(forKey: ObjectIdentifier(connection)) else { return }
        perAddress[entry.address, default: 1] -= 1
        if perAddress[entry.address] == 0 { perAddress[entry.address] = nil }
    }
}
