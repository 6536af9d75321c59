import ClipSync
import ClipWire

extension VDAgentBridge {
    // MARK: Messages from the engine

    /// A message the engine sent on the guest's session: hellos and acks need nothing; an
    /// offer is grabbed in the guest once clipd holds its bytes (fetched first when it did
    /// not travel inline), and acknowledged with what became of it.
    public func engineSent(_ message: SessionMessage) -> [Output] {
        switch message {
        case .offer(let offer):
            return engineOffered(offer)
        case .fetchFailed(let failure):
            guard let (header, _) = fetches.removeValue(forKey: failure.requestID) else { return [] }
            return [ack(header.id, .failed)]
        case .fetch(let fetch):
            // The guest's items always travel inline: there is nothing to fetch.
            return [.toEngine(.fetchFailed(.init(requestID: fetch.requestID, reason: .notHeld)))]
        case .hello, .ack, .data, .dataEnd, .unknown:
            return []
        }
    }

    /// The engine answered a fetch with the whole item.
    public func engineStreamed(requestID: UInt32, item: ClipItem) -> [Output] {
        guard let (header, types) = fetches.removeValue(forKey: requestID), header.id == item.id else { return [] }
        if let newer = held[item.selection], newer.item.header.version > item.header.version {
            return [ack(item.id, .superseded)]
        }
        return grab(item, types: types) + [ack(item.id, .applied)]
    }

    private func engineOffered(_ offer: SessionMessage.Offer) -> [Output] {
        let header = offer.header
        clock.observe(header.clock)
        let selection = header.selection
        guard sessionOpen, selections.contains(selection), selection == .clipboard || codec.selectionPrefix else {
            return [ack(header.id, .ignored)]
        }
        if held[selection]?.item.id == header.id { return [ack(header.id, .alreadyHeld)] }
        let types = VDAgentItemTypes.guestTypes(of: header.representations.map { ($0.mimeType, $0.size) })
        guard !types.isEmpty else {
            return releaseStale(selection) + [ack(header.id, .ignored),
                    .log(.debug, "item \(header.id) has no type the guest's agent takes (\(header.representations.map(\.mimeType)))")]
        }
        let largest = types.map(\.size).max() ?? 0
        if let guestMaximum, largest > UInt64(guestMaximum) {
            return releaseStale(selection) + [ack(header.id, .tooLarge),
                    .log(.info, "not giving the guest a \(largest)-byte \(selection) item: its agent takes at most \(guestMaximum) bytes")]
        }
        guard let data = offer.inlineData else {
            let requestID = nextRequestID
            nextRequestID = nextRequestID == .max ? 1 : nextRequestID + 1
            fetches[requestID] = (header, types)
            return [.toEngine(.fetch(.init(requestID: requestID, item: header.id)))]
        }
        return grab(ClipItem(header: header, data: data), types: types) + [ack(header.id, .applied)]
    }

    /// clipd owns the guest's selection from now on, holding the item's bytes, so every
    /// request is answered at once; `types` are what the item offers the guest. A guest
    /// copy still being read lost: it was older.
    func grab(_ item: ClipItem, types: [VDAgentItemTypes.GuestType]) -> [Output] {
        let selection = item.selection
        held[selection] = Held(item: item, types: types)
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
