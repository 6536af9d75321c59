import ClipTestSupport
import ClipCrypto
import ClipSync
import ClipWire
import Foundation
import Testing

/// Hostile and broken input against a real daemon: every case must end the connection,
/// keep the daemon running, apply nothing corrupted and lose nothing already held.
@Suite("Integration: robustness against bad input", .serialized)
struct RobustnessTests {
    let h = DaemonHarness()
    let key = X25519PrivateKey.generate()
    let psk = SecureRandom.bytes(32)
    let daemon: DaemonHarness.Daemon
    let daemonKey: [UInt8]

    init() throws {
        daemon = h.prepare("target")
        // Trust the test's key as if it had paired: the test then speaks as a real peer.
        let peers = """
            [[peer]]
            name = "raw"
            public_key = "\(key.publicKey.hexString)"
            psk = "\(psk.hexString)"
            addresses = []

            """
        let path = daemon.home + "/peers.toml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(peers.utf8), attributes: [.posixPermissions: 0o600])
        try h.start(daemon)
        #expect(h.clipd(["send", "precious"], daemon).status == 0)
        let identity = try String(contentsOfFile: daemon.home + "/identity.toml", encoding: .utf8)
        let hex = identity.split(separator: "\"")[1]
        daemonKey = try X25519PrivateKey(rawRepresentation: [UInt8](hex: String(hex))!).publicKey
    }

    /// A raw peer that completed the handshake as the trusted test key.
    func connectedPeer() throws -> RawPeer {
        let peer = try RawPeer(port: daemon.port!)
        try peer.handshake(key: key, psk: psk, daemonKey: daemonKey)
        return peer
    }

    func expectDaemonIntact() {
        #expect(h.clipd(["status"], daemon).status == 0, "daemon died")
        #expect(h.received(daemon) == "precious", "held item lost or replaced")
    }

    @Test func aWellBehavedRawPeerIsAccepted() throws {
        let peer = try connectedPeer()
        // Catch-up: the daemon offers what it holds.
        guard case .offer(let offer) = try peer.readMessage() else { Issue.record("expected catch-up offer"); return }
        #expect(offer.inlineData == Array("precious".utf8))
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID.derive(fromStaticKey: key.publicKey), counter: 1),
                                clock: HybridTimestamp(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000) + 1000, logical: 0),
                                representations: [RepresentationInfo(mimeType: "text/plain;charset=utf-8", size: 3)])
        peer.sendMessage(.offer(.init(header: header, inlineData: Array("new".utf8))))
        guard case .ack(let ack) = try peer.readMessage() else { Issue.record("expected ack"); return }
        #expect(ack.status == .applied)
        #expect(h.received(daemon) == "new")
    }

    @Test func garbageEndsTheConnection() throws {
        let peer = try RawPeer(port: daemon.port!)
        peer.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(peer.closedSilently())
        expectDaemonIntact()
    }

    @Test func oversizedFrameLengthEndsTheConnection() throws {
        let peer = try RawPeer(port: daemon.port!)
        peer.send(HandshakeFrame.magic + [1, 0x10, 0xff, 0xff] + [UInt8](repeating: 0, count: 100))
        #expect(peer.closedSilently())
        expectDaemonIntact()
    }

    @Test func truncatedFrameThenHangUpIsHarmless() throws {
        do {
            let peer = try RawPeer(port: daemon.port!)
            peer.send(Array(HandshakeFrame(kind: .noiseInit, body: [UInt8](repeating: 7, count: 120)).encoded().prefix(50)))
        }
        usleep(100_000)
        expectDaemonIntact()
    }

    @Test func handshakeFromAnUnknownKeyIsDroppedSilently() throws {
        let peer = try RawPeer(port: daemon.port!)
        #expect(throws: (any Error).self) { try peer.handshake(key: .generate(), psk: psk, daemonKey: daemonKey) }
        expectDaemonIntact()
    }

    @Test func replayedHandshakeIsDropped() throws {
        let first = try RawPeer(port: daemon.port!)
        try first.handshake(key: key, psk: psk, daemonKey: daemonKey)
        let replay = try RawPeer(port: daemon.port!)
        replay.send(first.sentMessage1)
        #expect(replay.closedSilently())
        expectDaemonIntact()
    }

    @Test func aHandshakeThatNeverProvesItselfDoesNotDisplaceTheLiveSession() throws {
        let live = try connectedPeer()
        guard case .offer = try live.readMessage() else { Issue.record("expected catch-up offer"); return }
        let silent = try RawPeer(port: daemon.port!)
        try silent.handshake(key: key, psk: psk, daemonKey: daemonKey, hello: false)
        #expect(h.clipd(["send", "still here"], daemon).status == 0)
        guard case .offer(let offer) = try live.readMessage() else { Issue.record("live session lost its offers"); return }
        #expect(offer.inlineData == Array("still here".utf8))
    }

    @Test func aReusedFetchRequestIDEndsTheSession() throws {
        // Request ids are the item-MAC nonces: the daemon never MACs twice under one.
        let peer = try connectedPeer()
        guard case .offer(let offer) = try peer.readMessage() else { Issue.record("expected catch-up offer"); return }
        let fetch = SessionMessage.Fetch(requestID: 9, item: offer.header.id, representation: 0, offset: 0, length: 8)
        peer.sendMessage(.fetch(fetch))
        guard case .data = try peer.readMessage(), case .dataEnd(let end) = try peer.readMessage() else {
            Issue.record("expected the item's data and end"); return
        }
        #expect(end.length == 8)
        peer.sendMessage(.fetch(fetch))
        #expect(peer.closedByDaemon())
        expectDaemonIntact()
    }

    @Test func wrongPSKFailsTheHandshake() throws {
        let peer = try RawPeer(port: daemon.port!)
        #expect(throws: CryptoError.authenticationFailed) { try peer.handshake(key: key, psk: SecureRandom.bytes(32), daemonKey: daemonKey) }
        expectDaemonIntact()
    }

    @Test func flippedBitInARecordEndsTheSession() throws {
        let peer = try connectedPeer()
        var record = peer.sealed(.offer(.init(header: header(size: 4), inlineData: Array("evil".utf8))))
        record[record.count / 2] ^= 0x01
        peer.send(record)
        #expect(peer.closedByDaemon())
        expectDaemonIntact()
    }

    @Test func replayedRecordEndsTheSession() throws {
        let peer = try connectedPeer()
        let record = peer.sealed(.ack(.init(item: ItemID(origin: DeviceID(bytes: Array(repeating: 1, count: 16)), counter: 1), status: .applied)))
        peer.send(record)
        peer.send(record)
        #expect(peer.closedByDaemon())
        expectDaemonIntact()
    }

    @Test func oversizedRecordLengthEndsTheSession() throws {
        let peer = try connectedPeer()
        peer.send([0x7f, 0xff, 0xff, 0xff] + [UInt8](repeating: 0, count: 64))
        #expect(peer.closedByDaemon())
        expectDaemonIntact()
    }

    @Test func malformedMessageInsideAValidRecordEndsTheSession() throws {
        let peer = try connectedPeer()
        var bytes = SessionMessage.offer(.init(header: header(size: 4), inlineData: Array("evil".utf8))).encoded()
        bytes.append(0x21)  // inline data longer than the header says
        peer.send(peer.sealedBytes(bytes))
        #expect(peer.closedByDaemon())
        expectDaemonIntact()
    }

    @Test func truncatedFetchIsDiscarded() throws {
        let item = chunkedItem(size: 200_000)  // under the lazy threshold: fetched at once
        do {
            let peer = try connectedPeer()
            _ = try peer.readMessage()  // catch-up offer
            peer.sendMessage(.offer(.init(header: item.header, manifest: item.manifest!)))
            guard case .fetch(let fetch) = try peer.readMessage() else { Issue.record("daemon did not fetch"); return }
            #expect(fetch.offset == 0 && fetch.length == 200_000)
            peer.sendMessage(.data(.init(requestID: fetch.requestID, offset: 0, bytes: item.bytes(representation: 0).prefix(70_000))))
        }  // the peer hangs up here, a third of the way through the item
        #expect(h.eventually { h.clipd(["peers"], daemon).stdout.contains("disconnected") })
        expectDaemonIntact()
    }

    @Test func aChunkThatDoesNotMatchItsHashIsNeverApplied() throws {
        let peer = try connectedPeer()
        _ = try peer.readMessage()
        let item = chunkedItem(size: 200_000)
        peer.sendMessage(.offer(.init(header: item.header, manifest: item.manifest!)))
        guard case .fetch(let fetch) = try peer.readMessage() else { Issue.record("daemon did not fetch"); return }
        var bytes = Array(item.bytes(representation: 0))
        bytes[1234] ^= 0x20
        peer.sendMessage(.data(.init(requestID: fetch.requestID, offset: 0, bytes: bytes[...])))
        #expect(peer.closedByDaemon())
        #expect(h.logText(daemon).contains("does not match its hash"))
        expectDaemonIntact()
    }

    @Test func aTransferInFlightIsListedWithItsRateAndTheReadGetsEveryByte() throws {
        let peer = try connectedPeer()
        _ = try peer.readMessage()
        let item = chunkedItem(size: 2 << 20)  // over the lazy threshold: fetched when read
        peer.sendMessage(.offer(.init(header: item.header, manifest: item.manifest!)))
        guard case .ack(let ack) = try peer.readMessage() else { Issue.record("no ack"); return }
        #expect(ack.status == .applied, "a lazily offered item is paste-ready at once")
        #expect(h.clipd(["status"], daemon).stdout.contains("(fetched when pasted)"))
        let recv = try h.startCLI(["recv"], daemon)
        guard case .fetch(let fetch) = try peer.readMessage() else { Issue.record("the read did not fetch"); return }
        let bytes = item.bytes(representation: 0)
        func send(_ range: Range<Int>) {
            for start in stride(from: range.lowerBound, to: range.upperBound, by: 256 << 10) {
                let piece = bytes[(bytes.startIndex + start)..<(bytes.startIndex + min(start + (256 << 10), range.upperBound))]
                peer.sendMessage(.data(.init(requestID: fetch.requestID, offset: UInt64(start), bytes: piece)))
            }
        }
        send(0..<(1 << 20))
        #expect(h.eventually {
            let status = h.clipd(["status"], daemon).stdout
            return status.contains("receiving from raw: 1.0 MiB of 2.0 MiB at") && status.contains("/s")
        })
        send((1 << 20)..<bytes.count)
        peer.sendMessage(.dataEnd(.init(requestID: fetch.requestID, length: UInt64(bytes.count))))
        let result = h.finish(recv)
        #expect(result.status == 0)
        #expect(byteDifference(result.stdoutBytes, bytes) == nil)
        #expect(!h.clipd(["status"], daemon).stdout.contains("transfer:"), "nothing in flight once it is here")
    }

    private func chunkedItem(size: Int) -> ClipItem {
        var state: UInt64 = UInt64(size)
        let data = (0..<size).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 40)
        }
        return ItemChunking.chunked(header: header(size: UInt64(size)), data: data)
    }

    private func header(size: UInt64) -> ItemHeader {
        ItemHeader(selection: .clipboard, id: ItemID(origin: DeviceID.derive(fromStaticKey: key.publicKey), counter: UInt64.random(in: 1...1_000_000)),
                   clock: HybridTimestamp(milliseconds: UInt64(Date().timeIntervalSince1970 * 1000) + 60_000, logical: 0),
                   representations: [RepresentationInfo(mimeType: "application/octet-stream", size: size)])
    }
}

