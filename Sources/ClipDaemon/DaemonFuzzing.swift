import ClipCrypto
import ClipWire
import NIOCore

/// Fuzzing steps for the daemon's own decoders, shared by the libFuzzer targets
/// (`make fuzz`) and the tests that replay their seeds. Each traps (failing the fuzzer)
/// when an invariant breaks; bad input must only ever throw.
public enum DaemonFuzzing {
    static let key = [UInt8](repeating: 0x5a, count: 32)

    /// Record ingest behind authentication: the input is plaintexts (u16 length, bytes;
    /// an empty one is a key update), each sealed under a known key, and the records are fed
    /// to a session in pieces whose sizes come from the first byte. Every message that opens
    /// must be one that was sealed, in order. With the first byte's top bit set, the input's
    /// raw bytes are fed instead (authentication must fail, never crash).
    public static func recordIngest(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first else { return }
        guard let session = try? RecordStream(sendKey: key, receiveKey: key, maximumPlaintext: 272 * 1024),
              let sealer = try? RecordSealer(key: key, maximumPlaintext: 272 * 1024) else { preconditionFailure("keys") }
        var stream: [UInt8] = []
        var sent: [[UInt8]] = []
        if first & 0x80 != 0 {
            stream = Array(input.dropFirst())
        } else {
            var offset = 1
            while offset + 2 <= input.count {
                let length = min(Int(input[offset]) << 8 | Int(input[offset + 1]), input.count - offset - 2)
                let plaintext = Array(input[(offset + 2)..<(offset + 2 + length)])
                offset += 2 + length
                if plaintext.isEmpty {
                    stream += try! sealer.sealKeyUpdate()
                } else {
                    stream += try! sealer.seal(plaintext)
                    if let message = try? SessionMessage.decode(plaintext) { sent.append(message.encoded()) }
                }
            }
        }
        let step = Int(first & 0x7f) * 37 + 1
        var delivered: [[UInt8]] = []
        var offset = 0
        do {
            while offset < stream.count {
                let end = min(stream.count, offset + step)
                var piece = ByteBufferAllocator().buffer(bytes: stream[offset..<end])
                try session.ingest(&piece) { message in
                    delivered.append(message.encoded())
                    return true
                }
                offset = end
            }
        } catch {
            // Raw bytes fail authentication; sealed ones fail only at a message that does not
            // decode, and everything before it came through.
            precondition(first & 0x80 != 0 || delivered.count <= sent.count, "more messages than were sealed")
            return
        }
        if first & 0x80 == 0 { precondition(delivered == sent, "the messages that came out are not the ones sealed") }
    }

    /// Control framing: frames split by their checked prefix, headers decoded as requests
    /// and as responses.
    public static func controlFrames(_ input: UnsafeRawBufferPointer) {
        var rest = input[...]
        while true {
            guard let lengths = try? ControlFraming.prefix(rest, maximumPayload: 1 << 20) else { return }
            precondition(lengths.headerLength <= ControlFraming.maximumHeaderLength && lengths.payloadLength <= 1 << 20)
            let total = ControlFraming.prefixByteCount + lengths.headerLength + Int(lengths.payloadLength)
            guard rest.count >= total else { return }
            let header = Array(rest.dropFirst(ControlFraming.prefixByteCount).prefix(lengths.headerLength))
            if let request = try? ControlFraming.decodeHeader(ControlRequest.self, from: header) {
                // What decodes must encode to a frame that decodes again.
                let again = ControlFraming.encode(request)
                precondition((try? ControlFraming.decodeHeader(ControlRequest.self, from: Array(again.dropFirst(ControlFraming.prefixByteCount)))) != nil)
            }
            _ = try? ControlFraming.decodeHeader(ControlResponse.self, from: header)
            rest = rest.dropFirst(total)
        }
    }

    /// clipd's config file: any text parses or throws one line.
    public static func configuration(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        do {
            _ = try DaemonConfiguration.parse(text, path: "fuzz.toml")
        } catch {
            precondition(!"\(error)".isEmpty, "an empty error")
        }
    }
}
