import ClipSync
import ClipboardBackends
import ClipWire
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's answers to its control clients: every request is dispatched here, to the
/// piece that owns what it asks about, once every piece has started.
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
        guard control.isOpen else { return control.whenOpen { [self] in handleControl(request, payload: payload, from: client) } }
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
        control.clientClosed(client)
        pairing.clientClosed(client)
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
            control.watchers.notify(selection, .item(item.header, held: item))
            desktop.showSent(item)
            var pending: [SessionID: String] = [:]
            for id in engine.recipients(of: item.header) { pending[id] = peerName(of: id) }
            guard wait && !pending.isEmpty else {
                var response = ControlResponse(ok: true)
                if wait { response.notes = ["no peers connected: nothing to wait for"] }
                return client.finish(response)
            }
            control.waits.add(item.id, reply: client, pending: pending, timeout: timeout)
        }
    }

    func acknowledged(_ item: ItemID, by session: SessionID, status: SessionMessage.Ack.Status) {
        control.waits.acknowledged(item, by: session, status: status)
    }

    // MARK: recv and watch

    private func handleWatch(_ request: ControlRequest, client: ControlConnection) throws {
        let selection = try selection(of: request)
        let now = engine.currentHeader(selection).map { ($0, held: engine.currentItem(selection)) }
        control.watchers.add(client, selection: selection, mimeType: request.mimeType, current: request.current == true, now: now)
    }

    private func handleRecv(_ request: ControlRequest, client: ControlConnection) throws {
        let selection = try selection(of: request)
        guard let current = engine.currentHeader(selection) else { throw DaemonError("the \(selection) is empty") }
        let (header, content) = localView(of: current, held: engine.currentItem(selection))
        if request.listTypes == true {
            var response = ControlResponse(ok: true)
            response.types = header.representations.map(\.mimeType)
            client.finish(response)
            return
        }
        let representation = try ControlItemStream.representation(of: header, mimeType: request.mimeType)
        ControlItemStream(loop: loop, client: client, header: header, representation: representation, content: content, last: true).start()
    }

    // MARK: status, peers, unpair

    private func statusResponse() -> ControlResponse {
        var lines = ["clipd running: \(identity.name) (device \(identity.deviceID.short)), pid \(getpid())"]
        if paused { lines.append("sync: paused (`clipd resume` to sync again)") }
        lines.append(desktop.statusLine)
        lines += links.set.statusLines(self)
        let connected = connectedPeers
        lines.append("peers: \(peers.peers.count) paired, \(connected.count) connected (\(connections.count) sessions)")
        lines += silentPeers().map(\.text)
        lines += control.statusLines
        for selection in Selection.allCases where configuration.selections.contains(selection) {
            if let header = engine.currentHeader(selection) {
                let origin = originName(of: header)
                let here = engine.currentItem(selection) == nil ? " (fetched when pasted)" : ""
                let failed = desktop.undeliveredReason(header.id).map { "; could not be delivered: " + Printable.text($0) } ?? ""
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
