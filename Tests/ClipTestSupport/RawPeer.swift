import ClipCrypto
import ClipWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A hand-driven TCP peer for robustness tests: it can speak the protocol correctly (to
/// prove the daemon accepts it) and then break it in precise ways.
public final class RawPeer {
    private let fd: Int32
    private var inbox: [UInt8] = []
    public private(set) var sentMessage1: [UInt8] = []
    private var sealer: RecordSealer?
    private var opener: RecordOpener?

    /// Connects to a daemon on the loopback; `receiveBuffer` shrinks the socket's receive
    /// buffer first (a peer whose window fills at once when it stops reading).
    public init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw HarnessError("connect failed") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // A daemon that stops reading (back-pressure is what some tests provoke) makes a
        // send give up after this, never block the test.
        var sendTimeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Ends the connection in both directions (the descriptor stays until deinit).
    public func hangUp() { shutdown(fd, Int32(SHUT_RDWR)) }

    public func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Reads until `count` bytes are buffered; false on close or timeout.
    private func fill(_ count: Int) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while inbox.count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            inbox += chunk[0..<n]
        }
        return true
    }

    /// True when the daemon closes the connection (within 5 s) without sending anything.
    public func closedSilently() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 && inbox.isEmpty
    }

    /// True when the daemon closes the connection within 5 s (bytes before it are ignored).
    public func closedByDaemon() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
        return false  // still sending after 5 s: not closed
    }

    public func readFrame() -> HandshakeFrame? {
        var decoder = HandshakeFrameDecoder(resynchronising: false)
        guard fill(HandshakeFrame.headerByteCount) else { return nil }
        let length = Int(inbox[6]) << 8 | Int(inbox[7])
        guard fill(HandshakeFrame.headerByteCount + length) else { return nil }
        decoder.append(inbox.prefix(HandshakeFrame.headerByteCount + length))
        inbox.removeFirst(HandshakeFrame.headerByteCount + length)
        return try? decoder.next()
    }

    /// Runs the Noise handshake as `key` with `psk` towards a daemon whose static key is
    /// `daemonKey`, then reads the daemon's hello.
    /// With `hello: false` the peer stops after the Noise messages and never proves it holds
    /// the keys.
    public func handshake(key: X25519PrivateKey, psk: [UInt8], daemonKey: [UInt8], hello: Bool = true,
                          timestamp: UInt64 = UInt64(Date().timeIntervalSince1970 * 1e9)) throws {
        let noise = try NoiseIKpsk2Initiator(prologue: Array("clipd/1 tcp".utf8), localStatic: key, remoteStatic: daemonKey, psk: psk)
        var payload = ByteWriter()
        payload.u64(timestamp)
        let message1 = try noise.writeMessage1(payload: payload.bytes)
        sentMessage1 = HandshakeFrame(kind: .noiseInit, body: message1).encoded()
        send(sentMessage1)
        guard let response = readFrame(), response.kind == .noiseResponse else { throw HarnessError("no handshake response") }
        let (_, keys) = try noise.readMessage2(response.body)
        sealer = try RecordSealer(key: keys.sendKey, maximumPlaintext: 1 << 20)
        opener = try RecordOpener(key: keys.receiveKey, maximumPlaintext: 1 << 20)
        guard hello else { return }
        // The initiator speaks first; the responder answers once a record proved the keys.
        sendMessage(.hello(.init(deviceName: "raw", maximumItemSize: 1 << 30)))
        guard case .hello = try readMessage() else { throw HarnessError("daemon did not say hello first") }
    }

    public func sealed(_ message: SessionMessage) -> [UInt8] { sealedBytes(message.encoded()) }

    public func sealedBytes(_ plaintext: [UInt8]) -> [UInt8] { try! sealer!.seal(plaintext) }

    public func sendMessage(_ message: SessionMessage) { send(sealed(message)) }

    /// Key updates (empty records) read so far; the opener replaced its key at each.
    public private(set) var keyUpdates = 0

    public func readMessage() throws -> SessionMessage {
        while true {
            guard fill(4) else { throw HarnessError("connection closed") }
            let length = Int(inbox[0]) << 24 | Int(inbox[1]) << 16 | Int(inbox[2]) << 8 | Int(inbox[3])
            guard fill(4 + length) else { throw HarnessError("connection closed") }
            let record = Array(inbox.prefix(4 + length))
            inbox.removeFirst(4 + length)
            let plaintext = try opener!.open(record: record)
            if plaintext.isEmpty {
                keyUpdates += 1
                continue
            }
            return try SessionMessage.decode(plaintext)
        }
    }
}
