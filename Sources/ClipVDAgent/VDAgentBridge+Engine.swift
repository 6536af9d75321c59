import ClipSync
import ClipWire

extension VDAgentBridge {
    // MARK: Messages from the engine

    /// A message the engine sent on the guest's session: hellos and acks need nothing; an
    /// offer is grabbed in the guest once clipd holds its bytes (fetched first, each
    /// representation the guest takes, when it did not travel inline), and acknowledged
    /// with what became of it.
    public func engineSent(_ message: SessionMessage) -> [Output] {
        switch message {
        case .offer(let offer):
            return engineOffered(offer)
        case .data(let chunk):
            // Taken out while it grows, so the bytes are appended in place, not copied.
            guard let fetch = fetches[chunk.requestID], var part = fetch.received.removeValue(forKey: chunk.requestID) else { return [] }
            if chunk.offset == UInt64(part.bytes.count) {
                for piece in chunk.parts { part.bytes.append(contentsOf: piece) }
            }
            fetch.received[chunk.requestID] = part
            return []
        case .dataEnd(let end):
            guard let fetch = fetches.removeValue(forKey: end.requestID) else { return [] }
            fetch.outstanding.remove(end.requestID)
            return fetch.outstanding.isEmpty ? fetched(fetch) : []
        case .fetchFailed(let failure):
            guard let fetch = fetches[failure.requestID] else { return [] }
            for id in fetch.outstanding { fetches[id] = nil }
            return [ack(fetch.header.id, .failed)]
        case .fetch(let fetch):
            // The guest's items always travel inline: there is nothing to fetch.
            return [.toEngine(.fetchFailed(.init(requestID: fetch.requestID, reason: .notHeld)))]
        case .hello, .ack, .cancel, .ping, .pong, .unknown:
            return []
        }
    }

    /// Every representation the guest takes arrived.
    private func fetched(_ fetch: PendingFetch) -> [Output] {
        let header = fetch.header
        if let newer = held[header.selection], newer.header.version > header.version {
            return [ack(header.id, .superseded)]
        }
        var bytes: [String: ArraySlice<UInt8>] = [:]
        for part in fetch.received.values { bytes[part.mimeType] = part.bytes[...] }
        for type in fetch.types where bytes[type.mimeType] == nil { bytes[type.mimeType] = [] }  // empty ones were not asked for
        return grab(header, types: fetch.types, bytes: bytes) + [ack(header.id, .applied)]
    }

    private func engineOffered(_ offer: SessionMessage.Offer) -> [Output] {
        let header = offer.header
        clock.observe(header.clock)
        let selection = header.selection
        guard sessionOpen, selections.contains(selection), selection == .clipboard || codec.selectionPrefix else {
            return [ack(header.id, .ignored)]
        }
        if held[selection]?.header.id == header.id { return [ack(header.id, .alreadyHeld)] }
        let types = VDAgentItemTypes.guestTypes(of: header.representations.map { ($0.mimeType, $0.size) }, windows: guestUsesCRLF)
        guard !types.isEmpty else {
            return releaseStale(selection) + [ack(header.id, .ignored),
                    .log(.info, "not giving the guest item \(header.id): its agent takes none of its types (\(header.representations.map(\.mimeType).joined(separator: ", ")))")]
        }
        let largest = types.map(\.size).max() ?? 0
        if let guestMaximum, largest > UInt64(guestMaximum) {
            return releaseStale(selection) + [ack(header.id, .tooLarge),
                    .log(.info, "not giving the guest a \(largest)-byte \(selection) item: its agent takes at most \(guestMaximum) bytes")]
        }
        guard let data = offer.inlineData else { return fetch(header, types: types) }
        let item = ClipItem(header: header, data: data)
        var bytes: [String: ArraySlice<UInt8>] = [:]
        for type in types { bytes[type.mimeType] = item.bytes(of: type.mimeType) }
        return grab(header, types: types, bytes: bytes) + [ack(header.id, .applied)]
    }

    /// Asks the engine for each representation the guest takes, whole.
    private func fetch(_ header: ItemHeader, types: [VDAgentItemTypes.GuestType]) -> [Output] {
        let pending = PendingFetch(header: header, types: types)
        var out: [Output] = []
        for type in types where type.size > 0 {
            guard let representation = header.representations.firstIndex(where: { $0.mimeType == type.mimeType }) else { continue }
            let requestID = nextRequestID
            nextRequestID = nextRequestID == .max ? 1 : nextRequestID + 1
            pending.received[requestID] = (type.mimeType, [])
            pending.outstanding.insert(requestID)
            fetches[requestID] = pending
            out.append(.toEngine(.fetch(.init(requestID: requestID, item: header.id, representation: UInt8(representation), offset: 0, length: type.size))))
        }
        return out.isEmpty ? fetched(pending) : out
    }

    /// clipd owns the guest's selection from now on, holding the item's bytes, so every
    /// request is answered at once; `types` are what the item offers the guest. A guest
    /// copy still being read lost: it was older.
    func grab(_ header: ItemHeader, types: [VDAgentItemTypes.GuestType], bytes: [String: ArraySlice<UInt8>]) -> [Output] {
        let selection = header.selection
        held[selection] = Held(header: header, types: types, bytes: bytes)
        abandonRead(selection)
        var serial: UInt32?
        if codec.grabSerial {
            serial = nextSerial[selection, default: 0]
            nextSerial[selection] = serial! &+ 1
        }
        return [.toGuest(codec.wire(.grab(selection: selection.rawValue, serial: serial, types: types.map(\.type.rawValue))))]
    }

    /// The host's clipboard moved on to an item the guest cannot take: what clipd still
    /// holds for it there is stale, so the guest's selection is released rather than left
    /// pasting the older item.
    private func releaseStale(_ selection: Selection) -> [Output] {
        guard held.removeValue(forKey: selection) != nil else { return [] }
        return [.toGuest(codec.wire(.release(selection: selection.rawValue)))]
    }

    private func ack(_ item: ItemID, _ status: SessionMessage.Ack.Status) -> Output {
        .toEngine(.ack(.init(item: item, status: status)))
    }
}
