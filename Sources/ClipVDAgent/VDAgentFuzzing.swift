import ClipWire

/// One fuzzing step for the SPICE agent parser, shared by the libFuzzer target
/// (`make fuzz`) and the unit test that replays seeds and mutations: a bridge is attached,
/// an agent announces itself, and `input` arrives from the guest in pieces whose sizes come
/// from the input's first byte. Traps (failing the fuzzer) when an invariant breaks: a
/// chunk to the guest over 2048 bytes or not on the client port, or a message to the engine
/// larger than the size limit.
public enum VDAgentFuzzing {
    static let device = DeviceID(bytes: [UInt8](repeating: 0x46, count: 16))
    static let limit: UInt64 = 1 << 16

    public static func run(_ input: UnsafeRawBufferPointer) {
        let bridge = VDAgentBridge(guestDevice: device, selections: [.clipboard, .primary], maximumItemSize: limit, wallMilliseconds: { 1 })
        check(bridge.attached())
        let announcement = VDAgentCodec(selectionPrefix: false, grabSerial: false).wire(.capabilities(request: false, VDAgentCapabilities(
            [.clipboardByDemand, .clipboardSelection, .guestLineEndCRLF, .maxClipboard, .clipboardGrabSerial])))
        announcement.withUnsafeBytes { check(bridge.received($0)) }
        guard let first = input.first else { return }
        let step = Int(first) + 1
        var offset = 1
        while offset < input.count {
            let end = min(input.count, offset + step)
            check(bridge.received(UnsafeRawBufferPointer(rebasing: input[offset..<end])))
            offset = end
        }
        // What a peer could send it next must still work.
        let header = ItemHeader(selection: .clipboard, id: ItemID(origin: device, counter: 9), clock: HybridTimestamp(rawValue: 1 << 20),
                                representations: [RepresentationInfo(mimeType: "text/plain;charset=utf-8", size: 3)])
        check(bridge.engineSent(.offer(.init(header: header, inlineData: [0x61, 0x0a, 0x62]))))
    }

    private static func check(_ outputs: [VDAgentBridge.Output]) {
        for output in outputs {
            switch output {
            case .toGuest(let bytes):
                var offset = 0
                while offset < bytes.count {
                    precondition(offset + 8 <= bytes.count && [VDAgent.clientPort, VDAgent.serverPort].contains(bytes.u32LE(at: offset)), "a torn chunk to the guest")
                    let size = Int(bytes.u32LE(at: offset + 4))
                    precondition(size > 0 && size <= VDAgent.maximumChunkPayload, "a chunk of \(size) bytes to the guest")
                    offset += 8 + size
                }
                precondition(offset == bytes.count, "a torn chunk to the guest")
            case .toEngine(.offer(let offer)):
                precondition(offer.header.totalSize <= limit && UInt64(offer.inlineData?.count ?? 0) == offer.header.totalSize,
                             "an offer over the limit or not matching its header")
            case .toEngine, .openSession, .closeSession, .log:
                break
            }
        }
    }
}
