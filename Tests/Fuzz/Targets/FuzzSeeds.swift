import ClipCrypto
import ClipDaemon
import ClipSync
import ClipVDAgent
import ClipWire
import Foundation

/// Well-formed inputs for each target, made with the project's own encoders, so the fuzzer
/// starts from traffic that reaches deep into each decoder (files in Tests/Fuzz/seeds add
/// hand-made ones and every crash ever found).
public enum FuzzSeeds {
    public static func generated(for target: String) -> [[UInt8]] {
        switch target {
        case "handshake": handshake
        case "session", "records": sessionStreams(forRecords: target == "records")
        case "pairing": [pairing]
        case "noise": [noise]
        case "control": control
        case "clipd-config": config
        case "toml": config + vmConfig + [Array(ConfigurationTemplate.text.utf8)]
        case "passvm-config": vmConfig
        case "qmp": qmp
        case "port-holder": portHolder
        default: []
        }
    }

    static let peer = DeviceID(bytes: [UInt8](repeating: 2, count: 16))

    /// Scripts for the port holder's relay (`op, length, bytes` steps): a daemon's reset and
    /// a grab, a 3000-byte answer cut short by the daemon going, the guest's requests with
    /// and without a daemon, the port closing and opening.
    static var portHolder: [[UInt8]] {
        func steps(_ op: UInt8, _ bytes: [UInt8]) -> [UInt8] {
            stride(from: 0, to: max(bytes.count, 1), by: 255).flatMap { start -> [UInt8] in
                let piece = bytes.isEmpty ? [] : Array(bytes[start..<min(start + 255, bytes.count)])
                return [op, UInt8(piece.count)] + piece
            }
        }
        let host = VDAgentCodec(selectionPrefix: true, grabSerial: true)
        let plain = VDAgentCodec(selectionPrefix: false, grabSerial: false)
        let reset = host.wireOnServerPort(.clientDisconnected) + host.wireOnServerPort(.capabilities(request: true, .host))
        let answer = host.wire(.clipboard(selection: 0, type: 1, data: [UInt8](repeating: 0x61, count: 3000)))
        let first = [0, 0] + steps(2, reset) + steps(3, plain.wire(.capabilities(request: false, VDAgentCapabilities([.clipboardByDemand, .clipboardSelection]))))
            + steps(2, host.wire(.grab(selection: 0, serial: 0, types: [1]))) + steps(3, host.wire(.request(selection: 0, type: 1)))
        let second = first + steps(2, Array(answer.prefix(2500))) + [1, 0] + steps(3, host.wire(.request(selection: 0, type: 1)))
            + [4, 0, 0, 0] + steps(2, reset) + [4, 1] + steps(2, answer)
        return [first, second]
    }

    static var handshake: [[UInt8]] {
        let frames = [HandshakeFrame(kind: .noiseInit, body: [UInt8](repeating: 7, count: 96)),
                      HandshakeFrame(kind: .pairStart, body: [UInt8](repeating: 3, count: 81)),
                      HandshakeFrame(kind: .channelHello, body: [UInt8](repeating: 1, count: 8)),
                      HandshakeFrame(kind: .pairFail, body: [1])]
        return [[0] + frames.flatMap { $0.encoded() }, [200] + [1, 2, 3] + frames[2].encoded() + Array("CLPD".utf8) + frames[0].encoded()]
    }

    /// Messages as u16 length + bytes; for records, with a pieces byte in front and a key
    /// update in the middle.
    static func sessionStreams(forRecords: Bool) -> [[UInt8]] {
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: peer, counter: 5),
                                clock: HybridTimestamp(milliseconds: 1_700_000_000_000, logical: 1),
                                representations: [RepresentationInfo(mimeType: "text/plain", size: 5)])
        let big = ItemChunking.chunked(header: ItemHeader(selection: .primary, id: ItemID(origin: peer, counter: 6),
                                                          clock: HybridTimestamp(milliseconds: 1_700_000_000_000, logical: 2),
                                                          representations: [RepresentationInfo(mimeType: "image/png", size: 100_000)]),
                                       data: (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let messages: [SessionMessage] = [
            .offer(.init(header: header, inlineData: Array("hello".utf8))),
            .offer(.init(header: big.header, manifest: big.manifest!)),
            .fetch(.init(requestID: 1, item: big.header.id, representation: 0, offset: 0, length: 100_000)),
            .data(.init(requestID: 1, offset: 0, bytes: Array(big.data.prefix(1000))[...])),
            .dataEnd(.init(requestID: 1, length: 1000)),
            .fetchFailed(.init(requestID: 2, reason: .busy)),
            .cancel(.init(requestID: 3)),
            .ack(.init(item: header.id, status: .applied)),
        ]
        func framed(_ list: [[UInt8]]) -> [UInt8] { list.flatMap { [UInt8(truncatingIfNeeded: $0.count >> 8), UInt8(truncatingIfNeeded: $0.count)] + $0 } }
        let encoded = messages.map { $0.encoded() }
        if forRecords { return [[3] + framed(Array(encoded.prefix(3)) + [[]] + Array(encoded.dropFirst(3))), [0x85] + Array(encoded[0])] }
        return [framed(encoded), framed(Array(encoded.reversed()))]
    }

    static var pairing: [UInt8] {
        let key = try! X25519PrivateKey(rawRepresentation: SHA256.hash([9]))
        let initiator = try! PairingInitiator(code: PairingCode(secret: [1, 2, 3, 4]), local: DeviceIdentity(staticPublicKey: key.publicKey, name: "seed"), key: key)
        return initiator.start().body + [0xff, 0] + [UInt8](repeating: 0x42, count: 150) + [0xff, 0] + [UInt8](repeating: 1, count: 32)
    }

    static var noise: [UInt8] {
        let initiator = try! NoiseIKpsk2Initiator(prologue: Array("clipd/1 tcp".utf8), localStatic: .generate(),
                                                  remoteStatic: try! X25519PrivateKey(rawRepresentation: SHA256.hash([1])).publicKey,
                                                  psk: [UInt8](repeating: 9, count: 32))
        return try! initiator.writeMessage1(payload: [UInt8](repeating: 0, count: 8))
    }

    static var control: [[UInt8]] {
        var send = ControlRequest(op: .send)
        send.mimeType = "text/plain"
        send.wait = true
        var response = ControlResponse(ok: false)
        response.error = "no"
        response.lines = ["a", "b"]
        return [ControlFraming.encode(send, payload: Array("payload".utf8)) + ControlFraming.encode(ControlRequest(op: .status)),
                ControlFraming.encode(response)]
    }

    static var config: [[UInt8]] {
        [Array("""
            backend = "auto"
            selections = ["clipboard", "primary"]
            listen = ["0.0.0.0:7439"]
            max_size = "64MiB"
            lazy_above = 262144
            extra_mime_types = ["application/x-foo"]
            virtio = ["unix:/run/vm/clipd.sock"]
            vdagent = ["unix-listen:/run/vm/vdagent.sock"]
            sync_files = true
            """.utf8)]
    }

    static var vmConfig: [[UInt8]] {
        [Array("""
            name = "win11"
            memory = "16GiB"
            cpus = 8
            devices = ["0000:01:00.0"]
            usb = ["046d:c52b"]
            disk = "/var/lib/vm/win11.qcow2"
            """.utf8)]
    }

    static var qmp: [[UInt8]] {
        [[3] + Array("""
            {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}}
            {"return": {}}
            {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true}}

            """.utf8)]
    }
}
