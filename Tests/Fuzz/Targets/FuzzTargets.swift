import ClipCrypto
import ClipDaemon
import ClipPortHolder
import ClipSync
import ClipTOML
import ClipVDAgent
import ClipWire
import Foundation
import PassthroughCore

/// Every decoder that takes bytes from another machine, a guest, a local client or a file,
/// as a fuzzing step: `make fuzz` runs each under libFuzzer, and the replay tests run the
/// seeds (and every crash found, once saved as a seed) through the same steps. A step traps
/// when an invariant breaks; bad input must only ever throw or be dropped.
public enum FuzzTargets {
    public static let all: [(name: String, maximumLength: Int, run: @Sendable (UnsafeRawBufferPointer) -> Void)] = [
        ("handshake", 1 << 20, handshakeFrames),
        ("session", 300 << 10, sessionMessages),
        ("pairing", 4096, pairingMessages),
        ("noise", 4096, noiseMessages),
        ("records", 1 << 20, DaemonFuzzing.recordIngest),
        ("control", 1 << 20, DaemonFuzzing.controlFrames),
        ("toml", 64 << 10, tomlDocument),
        ("clipd-config", 64 << 10, DaemonFuzzing.configuration),
        ("passvm-config", 64 << 10, passvmConfiguration),
        ("qmp", 1 << 20, qmpStream),
        ("vdagent", 1 << 20, VDAgentFuzzing.run),
        ("port-holder", 1 << 20, AgentPortRelayFuzzing.run),
    ]

    public static func target(named name: String) -> (name: String, maximumLength: Int, run: @Sendable (UnsafeRawBufferPointer) -> Void)? {
        all.first { $0.name == name }
    }

    /// Handshake frames in both modes, fed in pieces sized by the first byte: decoding
    /// stays linear (compaction copies at most what was fed) and bodies within the limit.
    static func handshakeFrames(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first else { return }
        for resync in [false, true] {
            var decoder = HandshakeFrameDecoder(resynchronising: resync)
            let step = Int(first) * 61 + 1
            var offset = 1
            feeding: while offset < input.count {
                let end = min(input.count, offset + step)
                decoder.append(input[offset..<end])
                offset = end
                while true {
                    let next: HandshakeFrame?
                    do { next = try decoder.next() } catch {
                        precondition(!resync, "resync mode threw")
                        break feeding
                    }
                    guard let frame = next else { break }
                    precondition(frame.body.count <= HandshakeFrame.maximumBodyLength)
                    precondition(resync || (frame.kind != .channelHello && frame.kind != .channelHelloRequest), "a channel frame in strict mode")
                }
            }
            precondition(decoder.movedBytes <= input.count, "compaction copied more than was fed")
        }
    }

    /// Session messages (u16 length, bytes) decoded, re-encoded exactly, and given to an
    /// engine with a session open, as a paired peer would send them.
    static func sessionMessages(_ input: UnsafeRawBufferPointer) {
        let engine = SyncEngine(deviceID: DeviceID(bytes: [UInt8](repeating: 1, count: 16)), deviceName: "fuzz", maximumItemSize: 1 << 20,
                                selections: [.clipboard, .primary], lazyThreshold: 128 << 10, chunkCacheBudget: 1 << 20, wallMilliseconds: { 1_700_000_000_000 })
        let session = SessionID(1)
        _ = engine.sessionOpened(session, peer: DeviceID(bytes: [UInt8](repeating: 2, count: 16)))
        _ = engine.received(.hello(.init(deviceName: "peer", maximumItemSize: 1 << 20)), on: session)
        _ = engine.localCopy(selection: .clipboard, representations: [("text/plain", [UInt8](repeating: 0x61, count: 2_000))])
        var offset = 0
        while offset + 2 <= input.count {
            let length = min(Int(input[offset]) << 8 | Int(input[offset + 1]), input.count - offset - 2)
            let bytes = Array(input[(offset + 2)..<(offset + 2 + length)])
            offset += 2 + length
            guard let message = try? SessionMessage.decode(bytes) else { continue }
            if case .unknown = message {} else { precondition(message.encoded() == bytes, "a message decoded from bytes it does not encode to") }
            for action in engine.received(message, on: session) {
                if case .close = action { return }
            }
            while engine.nextStreamMessage(on: session).0 != nil {}
        }
    }

    /// Pairing frames from a stranger against both roles: whatever arrives throws or is
    /// refused, and no pair comes out without the code.
    static func pairingMessages(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        let key = X25519PrivateKey(fuzzSeed: 7), local = DeviceIdentity(staticPublicKey: key.publicKey, name: "fuzz")
        let code = PairingCode(secret: [1, 2, 3, 4])
        let frames = splitFrames(bytes)
        if let (id, message) = try? PairingResponder.parseStart(HandshakeFrame(kind: .pairStart, body: frames.first ?? [])),
           let responder = try? PairingResponder(code: code, local: local, key: key, peer: id, peerMessage: message) {
            for (index, body) in frames.dropFirst().enumerated() {
                let kind: HandshakeFrame.Kind = index % 2 == 0 ? .pairConfirm : .pairDone
                precondition((try? responder.handleConfirm(HandshakeFrame(kind: kind, body: body))) == nil, "a pair from a stranger")
                _ = try? responder.handleDone(HandshakeFrame(kind: .pairDone, body: body))
            }
        }
        guard let initiator = try? PairingInitiator(code: code, local: local, key: key) else { return }
        _ = initiator.start()
        for (index, body) in frames.enumerated() {
            let kinds: [HandshakeFrame.Kind] = [.pairReply, .pairFinish, .pairFail]
            if let (_, paired) = try? initiator.handle(HandshakeFrame(kind: kinds[index % 3], body: body)) {
                precondition(paired == nil, "a pair from a stranger")
            }
        }
    }

    /// Noise messages from a stranger: message 1 at a responder (anyone can make a valid
    /// one with a key of its own; the responder then answers), message 2 at an initiator,
    /// which must never authenticate without the responder's key and the PSK.
    static func noiseMessages(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        let responderKey = X25519PrivateKey(fuzzSeed: 1), initiatorKey = X25519PrivateKey(fuzzSeed: 2)
        let responder = NoiseIKpsk2Responder(prologue: Array("clipd/1 tcp".utf8), localStatic: responderKey)
        if (try? responder.readMessage1(bytes)) != nil { _ = try? responder.writeMessage2(payload: [], psk: [UInt8](repeating: 3, count: 32)) }
        guard let initiator = try? NoiseIKpsk2Initiator(prologue: Array("clipd/1 tcp".utf8), localStatic: initiatorKey,
                                                        remoteStatic: responderKey.publicKey, psk: [UInt8](repeating: 9, count: 32)),
              (try? initiator.writeMessage1(payload: [])) != nil else { return }
        if (try? initiator.readMessage2(bytes)) != nil { preconditionFailure("message 2 from a stranger authenticated") }
    }

    /// Any TOML document: parsed twice, the same table both times (or the same error).
    static func tomlDocument(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        let first = Result { () throws(TOMLError) in try TOMLParser.parse(text) }
        let second = Result { () throws(TOMLError) in try TOMLParser.parse(text) }
        switch (first, second) {
        case (.success, .success): break  // NaN makes equal tables unequal; the parse itself is the check
        case (.failure(let a), .failure(let b)): precondition(a == b, "two parses of one text failed differently")
        default: preconditionFailure("two parses of one text disagreed")
        }
    }

    /// passvm's VM config file.
    static func passvmConfiguration(_ input: UnsafeRawBufferPointer) {
        _ = try? VMConfig.parse(String(decoding: input, as: UTF8.self), source: "fuzz.toml")
    }

    /// What QEMU's QMP socket sends, in pieces sized by the first byte.
    static func qmpStream(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first else { return }
        var reader = QMPReader()
        let step = Int(first) * 97 + 1
        var offset = 1
        while offset < input.count {
            let end = min(input.count, offset + step)
            _ = reader.feed(input[offset..<end])
            offset = end
        }
    }

    /// Bodies separated by the byte pair 0xff 0x00 (so mutations can make several frames).
    static func splitFrames(_ bytes: [UInt8]) -> [[UInt8]] {
        var frames: [[UInt8]] = [[]]
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0xff, index + 1 < bytes.count, bytes[index + 1] == 0 {
                frames.append([])
                index += 2
            } else {
                frames[frames.count - 1].append(bytes[index])
                index += 1
            }
        }
        return frames
    }
}

extension X25519PrivateKey {
    /// A fixed key for fuzzing (the same every run, so crashes replay).
    init(fuzzSeed: UInt8) { try! self.init(rawRepresentation: SHA256.hash([fuzzSeed])) }
}
