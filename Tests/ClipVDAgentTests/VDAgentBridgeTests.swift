import ClipSync
import ClipVDAgent
import ClipWire
import Testing

/// The bridge against a scripted agent that keeps the Linux agent's rules (its grab serial
/// counter, chunk limit, capability exchange), with the engine's side played by the test.
@Suite("SPICE agent: the bridge")
struct VDAgentBridgeTests {
    static let guest = DeviceID(bytes: [UInt8](repeating: 0x47, count: 16))
    static let peer = DeviceID(bytes: [UInt8](repeating: 0x50, count: 16))
    static let linuxCaps = VDAgentCapabilities([.clipboardByDemand, .clipboardSelection, .guestLineEndLF, .maxClipboard,
                                                .clipboardNoReleaseOnRegrab, .clipboardGrabSerial])
    static let windowsCaps = VDAgentCapabilities([.clipboardByDemand, .guestLineEndCRLF])
    static let full = VDAgentCodec(selectionPrefix: true, grabSerial: true)
    static let plain = VDAgentCodec(selectionPrefix: false, grabSerial: false)

    /// A bridge and what it said, decoded as the agent reads it.
    final class Harness {
        let bridge: VDAgentBridge
        var codec: VDAgentCodec
        var decoder = VDAgentFrameDecoder(maximumMessageSize: 1 << 26)
        var toGuest: [VDAgentMessage] = []
        var toEngine: [SessionMessage] = []
        var sessions: [String] = []
        var logs: [String] = []

        init(selections: Set<Selection> = [.clipboard, .primary], maximumItemSize: UInt64 = 1 << 20, codec: VDAgentCodec = VDAgentBridgeTests.full) {
            bridge = VDAgentBridge(guestDevice: VDAgentBridgeTests.guest, selections: selections, maximumItemSize: maximumItemSize,
                                   wallMilliseconds: { 1_700_000_000_000 })
            self.codec = codec
        }

        func take(_ outputs: [VDAgentBridge.Output]) {
            for output in outputs {
                switch output {
                case .toGuest(let bytes):
                    // Every chunk stays within the agent's 2048-byte limit; resets and
                    // announcements go on the server's port, one chunk each.
                    var offset = 0
                    while offset + 8 <= bytes.count {
                        let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8
                        #expect(size <= 2048 && (bytes[offset] == 1 || bytes[offset] == 2))
                        if bytes[offset] == 2 {
                            let type = bytes[offset + 12]
                            #expect(type == 13 || type == 6, "only resets and announcements on the server's port")
                            #expect(size == 20 + Int(bytes[offset + 24]) | Int(bytes[offset + 25]) << 8, "a server-port message is one chunk")
                        }
                        offset += 8 + size
                    }
                    for event in bytes.withUnsafeBytes({ decoder.feed($0) }) {
                        guard case .message(let type, let body) = event else { Issue.record("bad host output \(event)"); continue }
                        toGuest.append((try? codec.decode(type, body: body)) ?? .other(type))
                    }
                case .toEngine(let message): toEngine.append(message)
                case .openSession: sessions.append("open")
                case .closeSession: sessions.append("close")
                case .log(_, let line): logs.append(line)
                }
            }
        }

        func guestSends(_ message: VDAgentMessage, codec: VDAgentCodec? = nil) {
            let bytes = (codec ?? self.codec).wire(message)
            take(bytes.withUnsafeBytes { bridge.received($0) })
        }

        func engine(_ message: SessionMessage) { take(bridge.engineSent(message)) }

        /// Attach, and the agent answers the host's request with its capabilities.
        func attach(caps: VDAgentCapabilities = VDAgentBridgeTests.linuxCaps) {
            take(bridge.attached())
            #expect(toGuest == [.clientDisconnected, .capabilities(request: true, .host)])
            toGuest = []
            guestSends(.capabilities(request: false, caps), codec: VDAgentBridgeTests.plain)
            // What follows the announcement is MAX_CLIPBOARD, when the agent takes one.
            #expect(toGuest == (caps.contains(.maxClipboard) ? [.maxClipboard(Int32(clamping: bridge.maximumMessageSize - 64))] : []))
            toGuest = []
        }

        func drain() -> ([VDAgentMessage], [SessionMessage]) {
            defer { toGuest = []; toEngine = [] }
            return (toGuest, toEngine)
        }
    }

    static func item(_ representations: [(String, [UInt8])], selection: Selection = .clipboard, counter: UInt64 = 1,
                     clock: UInt64 = (1_700_000_000_000 << 16) | 9) -> ClipItem {
        let header = ItemHeader(selection: selection, id: ItemID(origin: peer, counter: counter), clock: HybridTimestamp(rawValue: clock),
                                representations: representations.map { RepresentationInfo(mimeType: $0.0, size: UInt64($0.1.count)) })
        return ClipItem(header: header, data: representations.flatMap(\.1))
    }

    static func offer(_ item: ClipItem, inline: Bool = true) -> SessionMessage {
        guard !inline else { return .offer(.init(header: item.header, inlineData: item.data)) }
        return .offer(.init(header: item.header, manifest: ItemChunking.chunked(header: item.header, data: item.data).manifest!))
    }

    /// An agent appends client-port chunks to a message an earlier host left half-written;
    /// a server-port chunk is a message of its own. So the reset goes there.
    @Test func theResetAndTheAnnouncementGoOnTheServersPortOneChunkEach() {
        let h = Harness()
        let out = h.bridge.attached()
        let codec = VDAgentCodec(selectionPrefix: false, grabSerial: false)
        #expect(out == [.toGuest(codec.wireOnServerPort(.clientDisconnected)), .toGuest(codec.wireOnServerPort(.capabilities(request: true, .host)))])
        for case .toGuest(let bytes) in out {
            #expect(bytes.prefix(4) == [2, 0, 0, 0])
            #expect(Int(bytes[4]) | Int(bytes[5]) << 8 == bytes.count - 8)
        }
        // The agent (re)started on its own: the answer to its announcement goes there too.
        h.take(out)
        h.toGuest = []
        let answer = Self.plain.wire(.capabilities(request: true, Self.windowsCaps)).withUnsafeBytes { h.bridge.received($0) }
        #expect(answer.contains(.toGuest(codec.wireOnServerPort(.capabilities(request: false, .host)))))
    }

    @Test func theWatchdogRepeatsTheResetUntilTheAgentAnswers() {
        let h = Harness()
        h.take(h.bridge.attached())
        #expect(h.bridge.resetsUnanswered == 1)
        h.toGuest = []
        h.take(h.bridge.resetUnanswered())
        #expect(h.toGuest == [.clientDisconnected, .capabilities(request: true, .host)])
        #expect(h.bridge.resetsUnanswered == 2)
        #expect(h.logs.filter { $0.contains("has not answered the reset") }.count == 1)
        h.take(h.bridge.resetUnanswered())
        #expect(h.logs.filter { $0.contains("has not answered the reset") }.count == 1, "said once")
        h.guestSends(.capabilities(request: false, Self.linuxCaps), codec: Self.plain)
        #expect(h.bridge.resetsUnanswered == 0 && h.sessions == ["open"])
        #expect(h.bridge.resetUnanswered().isEmpty)
    }

    @Test func attachAsksTheAgentToStartOverAndTheSessionOpensAtItsAnswer() {
        let h = Harness()
        h.take(h.bridge.attached())
        #expect(h.toGuest == [.clientDisconnected, .capabilities(request: true, .host)])
        #expect(h.sessions.isEmpty)
        // Anything before the agent's announcement is stale: ignored.
        h.guestSends(.grab(selection: 0, serial: 0, types: [1]))
        #expect(h.drain().0.count == 2)
        h.guestSends(.capabilities(request: false, Self.linuxCaps), codec: Self.plain)
        #expect(h.toGuest == [.maxClipboard(1 << 20)])
        #expect(h.sessions == ["open"])
        #expect(h.logs.last?.contains("SPICE agent ready (selections: clipboard, primary; line ends: LF)") == true)
    }

    @Test func aHostItemIsGrabbedWithTheNextSerialAndEveryRequestAnsweredAtOnce() {
        let h = Harness()
        h.attach()
        _ = h.drain()
        let item = Self.item([("text/plain;charset=utf-8", Array("one\ntwo".utf8)), ("text/html", Array("<b>x</b>".utf8))])
        h.engine(Self.offer(item))
        var (guest, engine) = h.drain()
        #expect(guest == [.grab(selection: 0, serial: 0, types: [1])], "HTML has no agent type")
        #expect(engine == [.ack(.init(item: item.id, status: .applied))])
        h.guestSends(.request(selection: 0, type: 1))
        #expect(h.drain().0 == [.clipboard(selection: 0, type: 1, data: Array("one\ntwo".utf8))], "LF guest: as is")
        h.guestSends(.request(selection: 0, type: 2))
        #expect(h.drain().0 == [.clipboard(selection: 0, type: 0, data: [])], "a type it does not hold: no data")
        h.guestSends(.request(selection: 1, type: 1))
        #expect(h.drain().0 == [.clipboard(selection: 0 + 1, type: 0, data: [])], "nothing held for primary")
        // The same item again is already held; a newer one takes serial 1.
        h.engine(Self.offer(item))
        (guest, engine) = h.drain()
        #expect(guest.isEmpty && engine == [.ack(.init(item: item.id, status: .alreadyHeld))])
        h.engine(Self.offer(Self.item([("image/png", [0x89, 0x50]), ("image/bmp", [0x42, 0x4d])], counter: 2)))
        #expect(h.drain().0 == [.grab(selection: 0, serial: 1, types: [2, 3])])
    }

    @Test func windowsGuestsGetCRLFAndNoSelectionPrefix() {
        let h = Harness(codec: Self.plain)
        h.attach(caps: Self.windowsCaps)
        h.engine(Self.offer(Self.item([("text/plain;charset=utf-8", Array("a\nb\r\nc\n".utf8))])))
        #expect(h.drain().0 == [.grab(selection: 0, serial: nil, types: [1])])
        h.guestSends(.request(selection: 0, type: 1))
        #expect(h.drain().0 == [.clipboard(selection: 0, type: 1, data: Array("a\r\nb\r\nc\r\n".utf8))])
        // Its copies come back with LF, and primary does not exist for it.
        h.guestSends(.grab(selection: 0, serial: nil, types: [1]))
        #expect(h.drain().0 == [.request(selection: 0, type: 1)])
        h.guestSends(.clipboard(selection: 0, type: 1, data: Array("x\r\ny\0".utf8)))
        let offered = h.drain().1
        guard case .offer(let offer)? = offered.first else { Issue.record("no offer: \(offered)"); return }
        #expect(offer.inlineData == Array("x\ny".utf8))
        #expect(offer.header.representations == [RepresentationInfo(mimeType: "text/plain;charset=utf-8", size: 3)])
        h.engine(Self.offer(Self.item([("text/plain;charset=utf-8", [0x61])], selection: .primary, counter: 5)))
        #expect(h.drain().1 == [.ack(.init(item: ItemID(origin: Self.peer, counter: 5), status: .ignored))])
    }

    /// Issue 21, point 3: the Windows agent takes a grab of any type and says nothing, but
    /// puts only UTF-8 text, PNG and BMP on its clipboard. An item with none of them is not
    /// grabbed (the guest's older item is released) and is acknowledged as not taken.
    @Test func windowsGuestsAreOfferedOnlyTextPNGAndBMP() {
        let h = Harness(codec: Self.plain)
        h.attach(caps: Self.windowsCaps)
        h.engine(Self.offer(Self.item([("image/jpeg", [0xFF, 0xD8]), ("image/png", [0x89, 0x50]), ("image/tiff", [0x49, 0x49])], counter: 1)))
        #expect(h.drain().0 == [.grab(selection: 0, serial: nil, types: [2])])
        let photo = Self.item([("image/jpeg", [0xFF, 0xD8]), ("image/tiff", [0x49, 0x49])], counter: 2)
        h.engine(Self.offer(photo))
        let (guest, engine) = h.drain()
        #expect(guest == [.release(selection: 0)], "the PNG it held is older: released")
        #expect(engine == [.ack(.init(item: photo.header.id, status: .ignored))])
        #expect(h.logs.contains { $0.contains("takes none of its types (image/jpeg, image/tiff)") })
        // A Linux agent takes JPEG.
        let linux = Harness()
        linux.attach(caps: Self.linuxCaps)
        linux.engine(Self.offer(photo))
        #expect(linux.drain().0 == [.grab(selection: 0, serial: 0, types: [5, 4])])
    }

    /// No grab serials (Windows): the host grabs while the guest's own grab is on its way.
    /// The agent takes the host's grab after its own and answers NONE; the host's item
    /// stands on both sides and every paste in the guest still gets it. A guest copy made
    /// after the host's grab brings its data and wins, as any later copy does.
    @Test func aGuestGrabCrossingTheHostsLeavesOneItemOnBothSides() {
        let h = Harness(codec: Self.plain)
        h.attach(caps: Self.windowsCaps)
        let host = Self.item([("text/plain;charset=utf-8", Array("host\n".utf8))], counter: 1)
        h.engine(Self.offer(host))
        #expect(h.drain().0 == [.grab(selection: 0, serial: nil, types: [1])])
        h.guestSends(.grab(selection: 0, serial: nil, types: [1]))  // sent before the agent saw the host's
        #expect(h.drain().0 == [.request(selection: 0, type: 1)])
        h.guestSends(.clipboard(selection: 0, type: 0, data: []))  // the agent holds the host's grab now
        #expect(h.drain().1.isEmpty, "no guest item: the host's stands")
        h.guestSends(.request(selection: 0, type: 1))
        #expect(h.drain().0 == [.clipboard(selection: 0, type: 1, data: Array("host\r\n".utf8))], "the guest pastes the host's item")
        // A later guest copy: its data comes back, and it is the guest's item from then on.
        h.guestSends(.grab(selection: 0, serial: nil, types: [1]))
        _ = h.drain()
        h.guestSends(.clipboard(selection: 0, type: 1, data: Array("guest\r\n".utf8)))
        guard case .offer(let offer)? = h.drain().1.first else { Issue.record("no offer"); return }
        #expect(offer.inlineData == Array("guest\n".utf8))
        h.guestSends(.request(selection: 0, type: 1))
        #expect(h.drain().0 == [.clipboard(selection: 0, type: 0, data: [])], "clipd no longer holds the guest's clipboard")
    }

    @Test func aGuestCopyBecomesAnItemOfTheGuestNewerThanAnythingOfferedToIt() {
        let h = Harness()
        h.attach()
        // A peer's item from the future (a clock skewed as far as the engine lets through):
        // the guest's next copy still wins.
        let future = Self.item([("text/plain;charset=utf-8", [0x41])], clock: (1_700_000_000_000 + HybridClock.maximumAhead) << 16)
        h.engine(Self.offer(future))
        _ = h.drain()
        h.guestSends(.grab(selection: 1, serial: 0, types: [1]))
        #expect(h.drain().0 == [.request(selection: 1, type: 1)])
        h.guestSends(.clipboard(selection: 1, type: 1, data: Array("selected".utf8)))
        guard case .offer(let offer)? = h.drain().1.first else { Issue.record("no offer"); return }
        #expect(offer.header.selection == .primary && offer.header.id.origin == Self.guest)
        #expect(offer.header.clock > future.header.clock)
        #expect(offer.inlineData == Array("selected".utf8))
    }

    @Test func imagesAreReadInThePreferredTypeAlongsideText() {
        let h = Harness()
        h.attach()
        h.guestSends(.grab(selection: 0, serial: 0, types: [3, 2, 1, 6]))
        #expect(h.drain().0 == [.request(selection: 0, type: 1)], "text first, one request at a time")
        h.guestSends(.clipboard(selection: 0, type: 1, data: Array("caption".utf8)))
        #expect(h.drain().0 == [.request(selection: 0, type: 2)], "then PNG, not BMP")
        h.guestSends(.clipboard(selection: 0, type: 2, data: [0x89, 0x50, 0x4e, 0x47]))
        guard case .offer(let offer)? = h.drain().1.first else { Issue.record("no offer"); return }
        #expect(offer.header.representations.map(\.mimeType) == ["text/plain;charset=utf-8", "image/png"])
        #expect(offer.inlineData == Array("caption".utf8) + [0x89, 0x50, 0x4e, 0x47])
    }

    @Test func crossingGrabsAreSettledBySerialAndTheHostWins() {
        let h = Harness()
        h.attach()
        h.engine(Self.offer(Self.item([("text/plain;charset=utf-8", [0x68])])))
        #expect(h.drain().0 == [.grab(selection: 0, serial: 0, types: [1])])
        // The agent grabbed with the same serial before it saw ours: the host's grab wins.
        h.guestSends(.grab(selection: 0, serial: 0, types: [1]))
        #expect(h.drain().0.isEmpty)
        h.guestSends(.grab(selection: 0, serial: 1, types: [1]))
        #expect(h.drain().0 == [.request(selection: 0, type: 1)], "the agent's next grab counts")
        h.engine(Self.offer(Self.item([("text/plain;charset=utf-8", [0x69])], counter: 2)))
        #expect(h.drain().0 == [.grab(selection: 0, serial: 2, types: [1])])
        // The guest copy being read lost to the host's newer grab: its reply is dropped.
        h.guestSends(.clipboard(selection: 0, type: 1, data: [0x6a]))
        #expect(h.drain().1.isEmpty)
    }

    @Test func anOlderGuestCopyStillBeingReadIsDroppedForTheNewerOne() {
        let h = Harness()
        h.attach()
        h.guestSends(.grab(selection: 0, serial: 0, types: [1]))
        h.guestSends(.grab(selection: 0, serial: 1, types: [1]))
        #expect(h.drain().0 == [.request(selection: 0, type: 1), .request(selection: 0, type: 1)])
        h.guestSends(.clipboard(selection: 0, type: 1, data: Array("first".utf8)))
        #expect(h.drain().1.isEmpty)
        h.guestSends(.clipboard(selection: 0, type: 1, data: Array("second".utf8)))
        guard case .offer(let offer)? = h.drain().1.first else { Issue.record("no offer"); return }
        #expect(offer.inlineData == Array("second".utf8))
        // An empty or NONE answer makes no item; a release drops a read under way.
        h.guestSends(.grab(selection: 0, serial: 2, types: [1]))
        h.guestSends(.clipboard(selection: 0, type: 0, data: []))
        h.guestSends(.grab(selection: 0, serial: 3, types: [1]))
        h.guestSends(.release(selection: 0))
        h.guestSends(.clipboard(selection: 0, type: 1, data: [0x61]))
        #expect(h.drain().1.isEmpty)
    }

    @Test func largeItemsAreFetchedBeforeTheGrabAndTooLargeOnesNotGrabbed() {
        let h = Harness()
        h.attach()
        let big = Self.item([("text/plain;charset=utf-8", [UInt8](repeating: 0x62, count: 100_000)), ("text/html", [0x3c])])
        h.engine(Self.offer(big, inline: false))
        var (guest, engine) = h.drain()
        #expect(guest.isEmpty)
        guard case .fetch(let fetch)? = engine.first, engine.count == 1 else { Issue.record("not one fetch: \(engine)"); return }
        #expect(fetch.item == big.id && fetch.representation == 0 && fetch.offset == 0 && fetch.length == 100_000, "only the text: HTML has no agent type")
        h.engine(.data(.init(requestID: fetch.requestID, offset: 0, bytes: big.bytes(representation: 0).prefix(60_000))))
        h.engine(.data(.init(requestID: fetch.requestID, offset: 60_000, bytes: big.bytes(representation: 0).dropFirst(60_000))))
        #expect(h.drain().0.isEmpty, "nothing is grabbed before the whole text is here")
        h.engine(.dataEnd(.init(requestID: fetch.requestID, length: 100_000)))
        (guest, engine) = h.drain()
        #expect(guest == [.grab(selection: 0, serial: 0, types: [1])] && engine == [.ack(.init(item: big.id, status: .applied))])
        h.guestSends(.request(selection: 0, type: 1))
        #expect(h.drain().0 == [.clipboard(selection: 0, type: 1, data: Array(big.bytes(representation: 0)))])
        // The agent says it takes 10 bytes at most.
        h.guestSends(.maxClipboard(10))
        let eleven = Self.item([("text/plain;charset=utf-8", [UInt8](repeating: 0x63, count: 11))], counter: 2)
        h.engine(Self.offer(eleven))
        (guest, engine) = h.drain()
        #expect(guest == [.release(selection: 0)], "the older item it held there is released")
        #expect(engine == [.ack(.init(item: eleven.id, status: .tooLarge))])
        #expect(h.logs.last?.contains("its agent takes at most 10 bytes") == true)
    }

    @Test func guestDataOverTheSizeLimitIsSkippedAndTheNextCopyStillWorks() {
        let h = Harness(maximumItemSize: 1000)
        h.attach()
        h.guestSends(.grab(selection: 0, serial: 0, types: [1]))
        h.guestSends(.clipboard(selection: 0, type: 1, data: [UInt8](repeating: 0x61, count: 5000)))
        #expect(h.drain().1.isEmpty)
        #expect(h.logs.last == "not syncing the guest's 5008-byte clipboard: over --max-size (1000 bytes)")
        h.guestSends(.grab(selection: 0, serial: 1, types: [1]))
        h.guestSends(.clipboard(selection: 0, type: 1, data: Array("small".utf8)))
        guard case .offer(let offer)? = h.drain().1.last else { Issue.record("no offer"); return }
        #expect(offer.inlineData == Array("small".utf8))
    }

    @Test func malformedInputResetsTheChannelInBandAndTheAgentRecovers() {
        let h = Harness()
        h.attach()
        _ = h.drain()
        h.take([7, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, 5, 6].withUnsafeBytes { h.bridge.received($0) })
        #expect(h.sessions == ["open", "close"])
        #expect(h.toGuest == [.clientDisconnected, .capabilities(request: true, .host)])
        #expect(h.logs.last?.hasPrefix("malformed input from the SPICE agent (chunk for port 7") == true)
        _ = h.drain()
        h.guestSends(.grab(selection: 0, serial: 5, types: [1]))
        #expect(h.drain().0.isEmpty, "ignored until the agent announces itself again")
        h.guestSends(.capabilities(request: false, Self.linuxCaps), codec: Self.plain)
        #expect(h.sessions == ["open", "close", "open"])
        // A well-framed message with a body that does not decode resets the same way.
        h.guestSends(.other(.clipboardGrab))  // a grab with no selection prefix
        #expect(h.sessions.last == "close")
    }

    @Test func whatFollowsBadInputInTheSameReadIsStale() {
        let h = Harness()
        h.attach()
        _ = h.drain()
        // A grab with no selection prefix, then an announcement the agent sent before it could
        // see the reset: only the announcement that answers the reset may reopen the session.
        let stale = Self.full.wire(.other(.clipboardGrab)) + Self.plain.wire(.capabilities(request: false, Self.linuxCaps))
        h.take(stale.withUnsafeBytes { h.bridge.received($0) })
        #expect(h.sessions == ["open", "close"])
        #expect(h.toGuest == [.clientDisconnected, .capabilities(request: true, .host)])
        h.guestSends(.capabilities(request: false, Self.linuxCaps), codec: Self.plain)
        #expect(h.sessions == ["open", "close", "open"])
    }

    @Test func anAgentThatRestartsStartsANewSession() {
        let h = Harness()
        h.attach()
        h.engine(Self.offer(Self.item([("text/plain;charset=utf-8", [0x68])])))
        _ = h.drain()
        h.guestSends(.capabilities(request: true, Self.linuxCaps), codec: Self.plain)
        #expect(h.sessions == ["open", "close", "open"])
        #expect(h.toGuest.first == .capabilities(request: false, .host))
        // Its serials start again at zero, and the engine's catch-up grabs again.
        h.engine(Self.offer(Self.item([("text/plain;charset=utf-8", [0x68])])))
        #expect(h.drain().0.last == .grab(selection: 0, serial: 0, types: [1]))
    }

    @Test func anAgentThatNeverAnswersIsResetNotRememberedWithoutEnd() {
        let h = Harness()
        h.attach()
        for serial in 0..<UInt32(32) { h.guestSends(.grab(selection: 0, serial: serial, types: [1])) }
        #expect(h.sessions == ["open"])
        h.guestSends(.grab(selection: 0, serial: 32, types: [1]))
        #expect(h.sessions == ["open", "close"])
        #expect(h.logs.contains { $0.contains("32 clipboard requests left unanswered") })
    }

    @Test func aHostItemTheGuestCannotTakeReleasesWhatItHeldThere() {
        let h = Harness()
        h.attach()
        h.engine(Self.offer(Self.item([("text/plain;charset=utf-8", [0x68])])))
        _ = h.drain()
        let html = Self.item([("text/html", Array("<i>only</i>".utf8))], counter: 2)
        h.engine(Self.offer(html))
        let (guest, engine) = h.drain()
        #expect(guest == [.release(selection: 0)], "the guest would otherwise paste the older item")
        #expect(engine == [.ack(.init(item: html.id, status: .ignored))])
        h.engine(Self.offer(Self.item([("text/html", [0x3c])], counter: 3)))
        #expect(h.drain().0.isEmpty, "released once")
        h.guestSends(.request(selection: 0, type: 1))
        #expect(h.drain().0 == [.clipboard(selection: 0, type: 0, data: [])])
    }

    @Test func unsyncedSelectionsAndAgentsWithoutTheClipboardAreLeftAlone() {
        let h = Harness(selections: [.clipboard])
        h.attach()
        h.guestSends(.grab(selection: 1, serial: 0, types: [1]))
        #expect(h.drain().0.isEmpty, "primary is not synced: not read")
        let old = Harness()
        old.take(old.bridge.attached())
        old.guestSends(.capabilities(request: false, VDAgentCapabilities([.guestLineEndLF])), codec: Self.plain)
        #expect(old.sessions.isEmpty)
        #expect(old.logs.last?.contains("does not offer the clipboard") == true)
    }
}
