/// The numbers of the SPICE agent protocol that clipd speaks on a guest's
/// `com.redhat.spice.0` port (spice-protocol's vd_agent.h; protocol/vdagent.md). Every
/// field on the wire is little-endian.
public enum VDAgent {
    /// `VD_AGENT_PROTOCOL`: the protocol field of every message header.
    public static let protocolVersion: UInt32 = 1
    /// The chunk port clipd sends clipboard messages on: the SPICE client's
    /// (`VDP_CLIENT_PORT`). Port 0 froze the Windows agent.
    public static let clientPort: UInt32 = 1
    /// The SPICE server's port (`VDP_SERVER_PORT`): clipd's resets and announcements go
    /// here, one chunk each, because an agent delivers a chunk on this port by itself even
    /// while a client-port message is half received. Accepted from the guest too.
    public static let serverPort: UInt32 = 2
    /// Most payload bytes in one chunk clipd sends (`VD_AGENT_MAX_DATA_SIZE`): the Linux
    /// agent reopens its port on a larger chunk and the Windows service restarts its agent.
    public static let maximumChunkPayload = 2048
    /// Chunk header: port u32, size u32.
    public static let chunkHeaderSize = 8
    /// Message header: protocol u32, type u32, opaque u64, size u32.
    public static let messageHeaderSize = 20
    /// The name QEMU gives the agent's port.
    public static let portName = "com.redhat.spice.0"
}

/// A message type (`VD_AGENT_*`). Unknown values are kept, so they can be skipped.
public struct VDAgentMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let clipboard = Self(rawValue: 4)
    public static let announceCapabilities = Self(rawValue: 6)
    public static let clipboardGrab = Self(rawValue: 7)
    public static let clipboardRequest = Self(rawValue: 8)
    public static let clipboardRelease = Self(rawValue: 9)
    public static let clientDisconnected = Self(rawValue: 13)
    public static let maxClipboard = Self(rawValue: 14)
    /// One past the highest type the protocol defines today (GRAPHICS_DEVICE_INFO = 16).
    static let knownEnd: UInt32 = 17

    public var description: String {
        switch self {
        case .clipboard: "CLIPBOARD"
        case .announceCapabilities: "ANNOUNCE_CAPABILITIES"
        case .clipboardGrab: "CLIPBOARD_GRAB"
        case .clipboardRequest: "CLIPBOARD_REQUEST"
        case .clipboardRelease: "CLIPBOARD_RELEASE"
        case .clientDisconnected: "CLIENT_DISCONNECTED"
        case .maxClipboard: "MAX_CLIPBOARD"
        default: "type \(rawValue)"
        }
    }
}

/// A capability bit (`VD_AGENT_CAP_*`).
public enum VDAgentCapability: Int, Sendable, CaseIterable {
    case clipboardByDemand = 5
    case clipboardSelection = 6
    case guestLineEndLF = 8
    case guestLineEndCRLF = 9
    case maxClipboard = 10
    case clipboardNoReleaseOnRegrab = 16
    case clipboardGrabSerial = 17
}

/// A set of capability bits as the wire carries them: little-endian u32 words, bit `n` in
/// word `n / 32`.
public struct VDAgentCapabilities: Equatable, Sendable {
    public private(set) var words: [UInt32]

    public init(words: [UInt32]) { self.words = words }

    public init(_ capabilities: [VDAgentCapability]) {
        words = [0]
        for capability in capabilities { insert(capability) }
    }

    public func contains(_ capability: VDAgentCapability) -> Bool {
        let word = capability.rawValue / 32
        return word < words.count && words[word] & (1 << UInt32(capability.rawValue % 32)) != 0
    }

    public mutating func insert(_ capability: VDAgentCapability) {
        let word = capability.rawValue / 32
        while words.count <= word { words.append(0) }
        words[word] |= 1 << UInt32(capability.rawValue % 32)
    }

    /// What clipd announces as the host: clipboard on demand with selections, the grab
    /// serial, no release before a re-grab, and that it takes a MAX_CLIPBOARD message.
    public static let host = VDAgentCapabilities([
        .clipboardByDemand, .clipboardSelection, .maxClipboard, .clipboardNoReleaseOnRegrab, .clipboardGrabSerial,
    ])
}

/// A clipboard data type (`VD_AGENT_CLIPBOARD_*`) and the MIME type clipd stores it as.
public enum VDAgentDataType: UInt32, Sendable, CaseIterable {
    case none = 0
    case utf8Text = 1
    case png = 2
    case bmp = 3
    case tiff = 4
    case jpeg = 5

    /// The MIME type of an item representation carrying this type.
    public var mimeType: String? {
        switch self {
        case .none: nil
        case .utf8Text: "text/plain;charset=utf-8"
        case .png: "image/png"
        case .bmp: "image/bmp"
        case .tiff: "image/tiff"
        case .jpeg: "image/jpeg"
        }
    }

    /// Image types in the order clipd prefers to read them from a guest.
    static let imagePreference: [VDAgentDataType] = [.png, .bmp, .jpeg, .tiff]
}
