import Foundation

/// Splits what QEMU's QMP socket sends into its JSON objects, one per line. Lines longer
/// than `maximumLineLength` are dropped (QMP's replies are small; a longer line means the
/// other end is not QEMU), and lines that are not a JSON object are skipped. A value type
/// with no I/O; not thread-safe (one owner).
public struct QMPReader {
    public static let maximumLineLength = 1 << 20
    private var pending: [UInt8] = []
    private var discarding = false

    public init() {}

    /// Takes the next bytes; returns the objects on the lines they completed.
    public mutating func feed<C: Collection>(_ bytes: C) -> [[String: Any]] where C.Element == UInt8 {
        var objects: [[String: Any]] = []
        for line in lines(bytes) {
            if let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] { objects.append(object) }
        }
        return objects
    }

    /// The complete lines in `pending` plus `bytes`, without their newlines.
    private mutating func lines<C: Collection>(_ bytes: C) -> [[UInt8]] where C.Element == UInt8 {
        var complete: [[UInt8]] = []
        for byte in bytes {
            if byte == 0x0a {
                if !discarding { complete.append(pending) }
                pending.removeAll(keepingCapacity: true)
                discarding = false
            } else if !discarding {
                pending.append(byte)
                if pending.count > Self.maximumLineLength {
                    pending.removeAll()
                    discarding = true
                }
            }
        }
        return complete
    }
}
