/// The links' part of a reload: listeners and channels added and removed to match the new
/// configuration, each change reported in one line.
extension LinkSet {
    /// Closes peer listeners no longer wanted and takes the new ones (bound by the caller).
    func replaceListeners(keeping wanted: [String], added: [ListenerLink]) -> [String] {
        var lines: [String] = []
        for listener in peerListeners {
            guard case .listener(let spec) = listener.key, !wanted.contains(spec) else { continue }
            remove(listener.key)
            lines.append("stopped listening on \(listener.bound)")
        }
        for listener in added {
            add(listener)
            lines.append("listening on \(listener.bound)")
        }
        return lines
    }

    /// Detaches channels no longer configured and attaches new ones through `attach`.
    /// Listening channels (`unix-listen:`) are bound once, at start.
    func reconcileChannels(_ oldVirtio: [VirtioChannel], _ oldAgents: [VirtioChannel], with virtio: [VirtioChannel], _ agents: [VirtioChannel],
                           attach: (VirtioChannel, ChannelKind) -> Void) -> [String] {
        var lines: [String] = []
        let before = oldVirtio.map { ($0, ChannelKind.clipd) } + oldAgents.map { ($0, ChannelKind.spiceAgent) }
        let after = virtio.map { ($0, ChannelKind.clipd) } + agents.map { ($0, ChannelKind.spiceAgent) }
        for (channel, kind) in before where !after.contains(where: { $0 == (channel, kind) }) {
            if case .hostListen = channel {
                lines.append("\(kind.option) \(channel): still listening until clipd restarts")
                continue
            }
            guard remove(.channel(channel, kind)) != nil else { continue }
            lines.append("detached \(kind.label) \(channel)")
        }
        for (channel, kind) in after where !before.contains(where: { $0 == (channel, kind) }) {
            if case .hostListen = channel {
                lines.append("\(kind.option) \(channel): takes effect when clipd restarts")
                continue
            }
            guard !contains(.channel(channel, kind)) else { continue }
            attach(channel, kind)
            lines.append("attached \(kind.label) \(channel)")
        }
        return lines
    }
}
