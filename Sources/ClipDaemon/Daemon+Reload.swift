import ClipSync
import ClipWire
import Foundation
import NIOCore

/// Reloading the configuration while running (SIGHUP, `clipd config reload`): the config
/// file and peers.toml are read again and what changed is applied without dropping a
/// session. A file that does not parse changes nothing: the daemon goes on as it was and
/// says why in one line.
extension Daemon {
    /// Reads `source` and peers.toml again and applies them. Returns lines for people: what
    /// changed, what waits for a restart. Throws a one-line error when a file is invalid (or
    /// another reload is under way); nothing has changed then.
    ///
    /// Call from any task: files are read and listeners bound off the loop, and everything
    /// the daemon holds is changed on it. Sessions stay open throughout.
    func reload(from source: ConfigurationSource) async throws -> [String] {
        // One reload at a time: a second (SIGHUP during `clipd config reload`) would bind the
        // same new listeners twice.
        let first = try await loop.submit { [self] () -> Bool in
            defer { reloading = true }
            return !reloading
        }.get()
        guard first else { throw DaemonError("a reload is already under way; try again when it is done") }
        defer { loop.execute { [self] in reloading = false } }
        let file: DaemonConfiguration, new: DaemonConfiguration
        let newPeers: [StoredPeer]
        do {
            (file, new) = try source.read()
            newPeers = try peers.readFile()
        } catch {
            logger.error("configuration not reloaded: \(error)")
            throw DaemonError("not reloaded, still running with the previous settings: \(error)")
        }
        let old = try await loop.submit { [self] in configuration }.get()
        // Listeners first: binding waits on the kernel, off the loop's other work.
        let (added, problems) = await bindNewListeners(new.listen, old: old.listen)
        var lines = try await loop.submit { [self] () -> [String] in
            let peerLines = reloadPeers(newPeers)
            var lines = problems + links.set.replaceListeners(keeping: new.listen, added: added)
            // What is bound: an address that could not be bound is tried again at the next reload.
            configuration.listen = new.listen.filter { links.set.contains(.listener($0)) }
            lines += apply(DaemonConfiguration.differingKeys(old, new), from: new)
            return lines + peerLines
        }.get()
        let changed = DaemonConfiguration.differingKeys(old, new)
        let waiting = changed.filter { !$0.live }.map(\.name)
        let live = changed.filter(\.live).map(\.name)
        var summary = "reloaded \(source.path)"
        summary += live.isEmpty ? ": no setting changed" : ": applied \(live.joined(separator: ", "))"
        lines.insert(summary, at: 0)
        if !waiting.isEmpty { lines.append("\(waiting.joined(separator: ", ")): takes effect when clipd restarts") }
        let overridden = source.overriddenKeys(file: file, effective: new)
        if !overridden.isEmpty { lines.append("\(overridden.joined(separator: ", ")): set on clipd run's command line, which wins over the file") }
        for line in lines { logger.notice("\(line)") }
        return lines
    }

    /// Takes the new value of every live key that changed, then does what each kind of key
    /// needs once (listeners were bound and closed already).
    private func apply(_ changed: [ConfigurationKey], from new: DaemonConfiguration) -> [String] {
        let live = changed.filter { $0.live && $0.reload != .listeners }
        let old = configuration
        for key in live { key.copy(new, &configuration) }
        var lines: [String] = []
        for effect in Set(live.map(\.reload)) {
            switch effect {
            case .engineLimits:
                engine.updateLimits(maximumItemSize: configuration.maximumItemSize, lazyThreshold: configuration.lazyThreshold,
                                    chunkCacheBudget: Int(clamping: configuration.chunkCacheBudget))
            case .logLevel:
                DaemonLogging.level = configuration.logLevel
            case .channels:
                links.configure(virtio: configuration.virtio, vdagent: configuration.vdagent)
                lines += links.set.reconcileChannels(old.virtio, old.vdagent, with: configuration.virtio, configuration.vdagent) { [self] in
                    _ = links.addChannelLink($0, kind: $1)
                }
                links.saveAttachedChannels()
            case .copied, .atRestart, .listeners:
                break
            }
        }
        return lines
    }

    private func bindNewListeners(_ wanted: [String], old: [String]) async -> ([ListenerLink], [String]) {
        var added: [ListenerLink] = []
        var problems: [String] = []
        for address in wanted where !old.contains(address) {
            do {
                added.append(try await links.bindListener(address))
            } catch {
                problems.append("\(error)")
            }
        }
        return (added, problems)
    }

    /// Reads peers.toml again: sessions of peers no longer there close, new peers with an
    /// address are dialled, and every open session takes its peer's policy as it is now.
    private func reloadPeers(_ loaded: [StoredPeer]) -> [String] {
        let before = peers.peers
        peers.replace(with: loaded)
        var lines: [String] = []
        let removed = before.filter { old in peers.peer(id: old.deviceID) == nil }
        for peer in removed {
            links.set.remove(.dialer(peer.deviceID))
            for connection in connections.values where connection.peer?.deviceID == peer.deviceID {
                connection.close(reason: "removed from peers.toml")
            }
            lines.append("peer \(peer.name) removed: disconnected")
        }
        for peer in peers.peers {
            guard let old = before.first(where: { $0.deviceID == peer.deviceID }) else {
                lines.append("peer \(peer.name) added")
                links.ensureDialer(peer.deviceID)
                continue
            }
            if old.policy != peer.policy { lines.append("peer \(peer.name): settings applied (\(Self.describe(peer.policy.direction)))") }
            if old.addresses != peer.addresses { links.ensureDialer(peer.deviceID) }
        }
        applyPolicies()
        return lines
    }
}
