import ClipSync
import ClipboardBackends
import ClipWire
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A `clipd send --wait` waiting for every connected peer's acknowledgement.
final class WaitState {
    let reply: ControlConnection
    var pending: [SessionID: String]
    var problems: [String] = []
    var timer: Scheduled<Void>?

    init(reply: ControlConnection, pending: [SessionID: String]) {
        self.reply = reply
        self.pending = pending
    }
}

extension Daemon {
    /// Refuses a request's payload before it is read: items over the maximum size, and
    /// payloads on requests that take none.
    func refusePayload(_ request: ControlRequest, length: UInt64) -> String? {
        if request.op == .send {
            guard length <= configuration.maximumItemSize else {
                return "item is \(SizeParser.format(length)), over this daemon's maximum of \(SizeParser.format(configuration.maximumItemSize)) (--max-size)"
            }
            return nil
        }
        return length == 0 ? nil : "unexpected payload on a \(request.op.rawValue) request"
    }

    func handleControl(_ request: ControlRequest, payload: [UInt8], from client: ControlConnection) {
        assertOnLoop()
        guard started else { return whenStarted { [self] in handleControl(request, payload: payload, from: client) } }
        do {
            switch request.op {
            case .send: try handleSend(request, payload: payload, client: client)
            case .recv: try handleRecv(request, client: client)
            case .watch: try handleWatch(request, client: client)
            case .status: client.finish(statusResponse())
            case .peers: client.finish(peersResponse())
            case .unpair: try handleUnpair(request, client: client)
            case .pairOpen: try pairing.open(for: client, lifetimeMilliseconds: request.timeoutMilliseconds)
            case .pairJoin: try joinPairing(request, client: client)
            case .channelAttach: client.finish(try links.attachChannel(request.target ?? "", kind: request.vdagent == true ? .spiceAgent : .clipd))
            case .channelDetach: client.finish(try links.detachChannel(request.target ?? "", kind: request.vdagent == true ? .spiceAgent : .clipd))
            case .pause, .resume: client.finish(try setPaused(request.op == .pause))
            case .peerSet: client.finish(try setPeerDirection(request))
            case .reload: reloadForClient(client)
            case .diagnose: client.finish(diagnosisResponse())
            }
        } catch {
            client.finish(.failure("\(error)"))
        }
    }

    /// `clipd config reload`: the answer comes once the reload is done.
    private func reloadForClient(_ client: ControlConnection) {
        let reply = NIOLoopBound(client, eventLoop: loop)
        guard let source = configurationSource else { return client.finish(.failure("this daemon was started without a config source")) }
        Task {
            let response: ControlResponse
            do {
                var ok = ControlResponse(ok: true)
                ok.lines = try await reload(from: source)
                response = ok
            } catch {
                response = .failure("\(error)")
            }
            loop.execute { reply.value.finish(response) }
        }
    }

    func controlClosed(_ client: ControlConnection) {
        watchers[ObjectIdentifier(client)] = nil
        pairing.clientClosed(client)
        for (item, wait) in waits where wait.reply === client {
            wait.timer?.cancel()
            waits[item] = nil
        }
    }

    func selection(of request: ControlRequest) throws -> Selection {
        guard let name = request.selection else { return .clipboard }
        guard let s = Selection(name: name) else { throw DaemonError("unknown selection '\(name)'") }
        guard configuration.selections.contains(s) else {
            throw DaemonError("this daemon does not sync the \(s) selection; start it with --selections clipboard,primary")
        }
        return s
    }

    // MARK: send

    private func handleSend(_ request: ControlRequest, payload: [UInt8], client: ControlConnection) throws {
        let selection = try selection(of: request)
        guard !paused else { throw DaemonError("sync is paused: run `clipd resume` first (nothing was copied)") }
        let mimeType = request.mimeType ?? "application/octet-stream"
        if let problem = MIMEType.problem(mimeType) { throw DaemonError("invalid MIME type '\(Printable.text(mimeType))': \(problem)") }
        let wait = request.wait == true
        let timeout = TimeAmount.milliseconds(Int64(request.timeoutMilliseconds ?? 30_000))
        intakeLocalCopy(selection: selection, representations: [RepresentationInfo(mimeType: mimeType, size: UInt64(payload.count))], data: payload) { [self] item in
            guard let item else {
                var response = ControlResponse(ok: true)
                response.notes = ["a newer copy replaced this item before it was offered"]
                return client.finish(response)
            }
            notifyWatchers(item.header, held: item)
            backend.own(item.header, content: HeldContent(item))  // like wl-copy: the item is also this desktop's clipboard
            restoreGuard.gaveDesktop(item.header, held: item)
            var pending: [SessionID: String] = [:]
            for id in engine.recipients(of: item.header) { pending[id] = peerName(of: id) }
            guard wait && !pending.isEmpty else {
                var response = ControlResponse(ok: true)
                if wait { response.notes = ["no peers connected: nothing to wait for"] }
                return client.finish(response)
            }
            let state = WaitState(reply: client, pending: pending)
            let itemID = item.id
            state.timer = loop.scheduleTask(in: timeout) { [self] in
                guard let waiting = waits.removeValue(forKey: itemID) else { return }
                let names = waiting.pending.values.sorted().joined(separator: ", ")
                waiting.reply.finish(.failure("timed out after \(timeout.nanoseconds / 1_000_000) ms waiting for \(names) to acknowledge"))
            }
            waits[item.id] = state
        }
    }

    func acknowledged(_ item: ItemID, by session: SessionID, status: SessionMessage.Ack.Status) {
        guard let wait = waits[item], let name = wait.pending.removeValue(forKey: session) else { return }
        recordAck(item, status: status, name: name, wait: wait)
    }

    private func recordAck(_ item: ItemID, status: SessionMessage.Ack.Status, name: String, wait: WaitState) {
        switch status {
        case .applied, .alreadyHeld: break
        case .superseded: wait.problems.append("\(name) kept a newer item")
        case .tooLarge: wait.problems.append("\(name) refused the item: over its maximum size")
        case .failed: wait.problems.append("\(name) could not fetch the item")
        case .ignored: wait.problems.append("\(name) did not take the item (it does not sync this selection, or takes none of its types)")
        case .refused: wait.problems.append("\(name) refused the item: its settings for this device do not take it")
        case .clockAhead: wait.problems.append("\(name) refused the item: this machine's clock is more than 5 minutes ahead of \(name)'s")
        }
        finishWaitIfDone(item, wait)
    }

    func failWaits(for session: SessionID, peerName: String) {
        for (item, wait) in waits where wait.pending[session] != nil {
            wait.pending[session] = nil
            wait.problems.append("\(peerName) disconnected before acknowledging")
            finishWaitIfDone(item, wait)
        }
    }

    private func finishWaitIfDone(_ item: ItemID, _ wait: WaitState) {
        guard wait.pending.isEmpty else { return }
        wait.timer?.cancel()
        waits[item] = nil
        if wait.problems.isEmpty {
            wait.reply.finish(ControlResponse(ok: true))
        } else {
            var response = ControlResponse.failure(wait.problems.joined(separator: "; "))
            response.notes = wait.problems
            wait.reply.finish(response)
        }
    }

    // MARK: recv and watch

    /// The representation to give a reader asking for `mimeType`: that type, else text,
    /// else the first.
    func chooseRepresentation(_ header: ItemHeader, mimeType: String?) throws -> Int {
        let types = header.representations.map(\.mimeType)
        if let mimeType {
            guard let index = types.firstIndex(of: mimeType) else {
                throw DaemonError("the \(header.selection) has no \(mimeType) (it has: \(types.joined(separator: ", ")))")
            }
            return index
        }
        for preferred in ["text/plain;charset=utf-8", "text/plain", "UTF8_STRING"] {
            if let index = types.firstIndex(of: preferred) { return index }
        }
        return 0
    }

    private func handleRecv(_ request: ControlRequest, client: ControlConnection) throws {
        let selection = try selection(of: request)
        guard let current = engine.currentHeader(selection) else { throw DaemonError("the \(selection) is empty") }
        let (header, content) = desktopView(of: current, held: engine.currentItem(selection))
        if request.listTypes == true {
            var response = ControlResponse(ok: true)
            response.types = header.representations.map(\.mimeType)
            client.finish(response)
            return
        }
        let representation = try chooseRepresentation(header, mimeType: request.mimeType)
        ControlItemStream(loop: loop, client: client, header: header, representation: representation, content: content, last: true).start()
    }

    // MARK: status, peers, unpair

    private func statusResponse() -> ControlResponse {
        var lines = ["clipd running: \(identity.name) (device \(identity.deviceID.short)), pid \(getpid())"]
        if paused { lines.append("sync: paused (`clipd resume` to sync again)") }
        lines.append("backend: \(backend.description); selections: \(configuration.selections.map(\.description).sorted().joined(separator: ","))")
        lines += links.set.statusLines(self)
        let connected = connectedPeers
        lines.append("peers: \(peers.peers.count) paired, \(connected.count) connected (\(connections.count) sessions)")
        lines += silentPeers().map(\.text)
        if !watchers.isEmpty { lines.append("watches: \(watchers.count) (`clipd recv --watch`)") }
        for selection in Selection.allCases where configuration.selections.contains(selection) {
            if let header = engine.currentHeader(selection) {
                let origin = originName(of: header)
                let here = engine.currentItem(selection) == nil ? " (fetched when pasted)" : ""
                let failed = undelivered[header.id].map { "; could not be delivered: " + Printable.text($0) } ?? ""
                lines.append("\(selection): \(SizeParser.format(header.totalSize)) \(header.representations.map(\.mimeType).joined(separator: ", ")) from \(origin)\(here)\(failed)")
            } else {
                lines.append("\(selection): empty")
            }
        }
        lines += transferLines()
        var response = ControlResponse(ok: true)
        response.lines = lines
        return response
    }

    /// Most transfers `clipd status` lists one by one; the rest are counted. A response
    /// stays small however many ranges peers have queued.
    static let listedTransfers = 20

    /// One line per transfer under way (at most `listedTransfers`), with its rate, then
    /// what moved since start.
    private func transferLines() -> [String] {
        let transfers = engine.transfers
        var lines = transfers.prefix(Self.listedTransfers).map { t -> String in
            let seconds = max(Double(t.elapsedMilliseconds) / 1000, 0.001)
            let rate = SizeParser.format(UInt64(Double(t.done) / seconds))
            let direction = t.direction == .receiving ? "receiving from" : "sending to"
            let line = "transfer: \(t.selection) item \(t.item), \(direction) \(peerName(of: t.session)): \(SizeParser.format(t.done)) of \(SizeParser.format(t.total)) at \(rate)/s"
            return line + (stallNote(t).map { "; " + $0 } ?? "")
        }
        if transfers.count > Self.listedTransfers { lines.append("transfer: and \(transfers.count - Self.listedTransfers) more") }
        let (received, sent) = (engine.bytesFetched, engine.bytesServed)
        lines.append("item data: received \(SizeParser.format(received)) (\(received) bytes), sent \(SizeParser.format(sent)) (\(sent) bytes); chunk cache \(SizeParser.format(UInt64(engine.cachedChunkBytes)))")
        return lines
    }

    private func peersResponse() -> ControlResponse {
        let connected = connectedPeers
        var response = ControlResponse(ok: true)
        response.lines = peers.peers.map { p in
            let state = connected.contains(p.deviceID) ? "connected" : "disconnected"
            let contact = contacts.describe(p.deviceID)
            let addresses = p.addresses.isEmpty ? "(dials us)" : p.addresses.map(\.description).joined(separator: ",")
            return "\(p.name)\t\(p.deviceID.short)\t\(state)\t\(contact)\tdirection \(p.policy.direction.rawValue)\t\(addresses)"
        }
        return response
    }

    /// The one paired peer a person named (by name or device id prefix), or a one-line
    /// error saying why there is none.
    func pairedPeer(_ query: String) throws -> StoredPeer {
        let matches = peers.find(query)
        guard let peer = matches.first else { throw DaemonError("no paired peer named '\(query)' (see `clipd peers`)") }
        guard matches.count == 1 else { throw DaemonError("'\(query)' matches \(matches.count) peers; use the device id from `clipd peers`") }
        return peer
    }

    /// The devices of the peers with a session now.
    var connectedPeers: Set<DeviceID> { Set(connections.values.compactMap { $0.peer?.deviceID }) }

    private func handleUnpair(_ request: ControlRequest, client: ControlConnection) throws {
        let query = request.peer ?? ""
        let peer = try pairedPeer(query)
        try peers.remove(peer.deviceID)
        links.set.remove(.dialer(peer.deviceID))
        for connection in connections.values where connection.peer?.deviceID == peer.deviceID {
            connection.close(reason: "unpaired")
        }
        var response = ControlResponse(ok: true)
        response.lines = ["unpaired \(peer.name) (\(peer.deviceID.short))"]
        client.finish(response)
    }
}
