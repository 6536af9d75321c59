import ClipSync

/// How item representations map to agent data types and back, and the line-end rule for
/// text (protocol/vdagent.md).
enum VDAgentItemTypes {
    /// Text representations an item may carry, in the order clipd reads them for a guest.
    static let textMIMETypes = ["text/plain;charset=utf-8", "UTF8_STRING", "text/plain"]

    /// An agent type a host item offers, with the representation it comes from.
    typealias GuestType = (type: VDAgentDataType, mimeType: String, size: UInt64)

    /// The types the Windows agent puts on its clipboard: it takes a grab of any type and
    /// answers it as applied, but keeps its old clipboard for JPEG and TIFF.
    static let windowsTypes: Set<VDAgentDataType> = [.utf8Text, .png, .bmp]

    /// The agent types a host item offers the guest, text first; for a Windows agent (one
    /// that announces CR LF line ends) only those it takes.
    static func guestTypes(of header: [(mimeType: String, size: UInt64)], windows: Bool = false) -> [GuestType] {
        var out: [GuestType] = []
        if let text = textMIMETypes.lazy.compactMap({ name in header.first { $0.mimeType == name } }).first {
            out.append((.utf8Text, text.mimeType, text.size))
        }
        for representation in header {
            guard let type = VDAgentDataType.allCases.first(where: { $0 != .utf8Text && $0.mimeType == representation.mimeType }),
                  !out.contains(where: { $0.type == type }), !windows || windowsTypes.contains(type)
            else { continue }
            out.append((type, representation.mimeType, representation.size))
        }
        return out
    }

    /// What clipd reads of a guest's grab: its text, and its image in the preferred type.
    static func wanted(fromGrab types: [UInt32]) -> [VDAgentDataType] {
        let offered = Set(types.compactMap(VDAgentDataType.init(rawValue:)))
        var out: [VDAgentDataType] = offered.contains(.utf8Text) ? [.utf8Text] : []
        if let image = VDAgentDataType.imagePreference.first(where: offered.contains) { out.append(image) }
        return out
    }

    /// Text for a guest: UTF-8, with every line feed that is not already part of CR LF
    /// written as CR LF when the guest's line ends are CR LF (Windows).
    static func textForGuest(_ text: ArraySlice<UInt8>, crlf: Bool) -> [UInt8] {
        guard crlf else { return Array(text) }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 32)
        var previous: UInt8 = 0
        for byte in text {
            if byte == 0x0A && previous != 0x0D { out.append(0x0D) }
            out.append(byte)
            previous = byte
        }
        return out
    }

    /// Text from a guest: trailing NULs dropped (the protocol has none, some agents add
    /// one), and CR LF written as LF when the guest's line ends are CR LF.
    static func textFromGuest(_ text: [UInt8], crlf: Bool) -> [UInt8] {
        var end = text.count
        while end > 0 && text[end - 1] == 0 { end -= 1 }
        guard crlf else { return Array(text[..<end]) }
        var out: [UInt8] = []
        out.reserveCapacity(end)
        var index = 0
        while index < end {
            if text[index] == 0x0D && index + 1 < end && text[index + 1] == 0x0A {
                index += 1
                continue
            }
            out.append(text[index])
            index += 1
        }
        return out
    }
}
