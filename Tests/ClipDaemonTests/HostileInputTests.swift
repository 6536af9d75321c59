import ClipCrypto
import ClipDaemon
import ClipTestSupport
import ClipWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Regression tests for the findings of a review read as an attacker would (issue 11):
/// each fails on the code before its fix. Daemon-level cases live here; decoder and engine
/// cases sit with their units' tests.
@Suite("Integration: hostile peers, guests and local users", .serialized)
struct HostileInputTests {
    let h = DaemonHarness()

    /// Finding 1: VM channel frames have no business on TCP; the strict decoder ends the
    /// connection at once (it used to be kept open, the frame ignored).
    @Test func aNetworkPeerSendingVMChannelFramesIsDropped() throws {
        let daemon = try h.start("strict")
        for kind in [HandshakeFrame.Kind.channelHelloRequest, .channelHello] {
            let peer = try RawPeer(port: daemon.port!)
            peer.send(HandshakeFrame(kind: kind, body: kind == .channelHello ? Array(repeating: 1, count: 8) : []).encoded())
            #expect(peer.closedByDaemon(), "\(kind) kept the connection open")
        }
        #expect(h.clipd(["status"], daemon).status == 0)
    }

    /// Finding 1: a guest asking for the host's hello a million times without reading gets
    /// at most one answer per read and none while the channel is full, not a million queued.
    @Test func aGuestThatAsksForHellosAndNeverReadsCannotQueueAnswers() throws {
        let socket = h.root + "/flood.sock"
        let host = try h.start("flooded", listen: false, arguments: ["--virtio", "unix-listen:\(socket)"])
        let fd = try #require(UnixSocket.connect(socket))
        defer { close(fd) }
        let requests = 1_000_000
        let ask = HandshakeFrame(kind: .channelHelloRequest, body: []).encoded()
        let flood = Array([[UInt8]](repeating: ask, count: requests).joined())
        var sent = 0
        while sent < flood.count {
            let n = flood.withUnsafeBytes { write(fd, $0.baseAddress! + sent, flood.count - sent) }
            guard n > 0 else { break }
            sent += n
        }
        #expect(sent == flood.count)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            received += n
        }
        let hellos = received / 16
        #expect(hellos >= 1, "the host never said hello")
        #expect(hellos < requests / 10, "\(hellos) hellos answered \(requests) requests")
        #expect(h.clipd(["status"], host).status == 0)
    }

    /// Finding 3: copies made while a peer does not read used to queue one offer each
    /// (64 KiB apiece inline) without end. While the channel takes no writes only the newest
    /// offer per selection waits, and it is the one that arrives last.
    @Test func copiesMadeWhileAPeerDoesNotReadQueueOnlyTheNewestOffer() throws {
        let raw = TrustedRawPeer()
        let daemon = h.prepare("copier")
        raw.trust(in: daemon)
        try h.start(daemon)
        let peer = try raw.connect(to: daemon, receiveBuffer: 4096)
        let copies = 400
        for n in 0..<copies {
            // Through the control socket directly: a process per copy would take minutes.
            let client = try ControlClient(socketPath: daemon.controlSocket)
            var request = ControlRequest(op: .send)
            request.mimeType = "application/octet-stream"
            try client.send(request, payload: [UInt8](repeating: UInt8(n % 251), count: 60_000) + Array("copy \(n)".utf8))
            #expect(try client.receive().0.ok)
        }
        var offers: [SessionMessage.Offer] = []
        while let message = try? peer.readMessage() {
            if case .offer(let offer) = message { offers.append(offer) }
        }
        #expect(offers.count < copies / 2, "\(offers.count) of \(copies) offers were queued")
        #expect(offers.last?.inlineData?.suffix(8) == Array("copy \(copies - 1)".utf8).suffix(8), "the newest copy arrived last")
    }
}
