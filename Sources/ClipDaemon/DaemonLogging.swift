import ClipWire
import Logging
import Synchronization

/// The daemon's log output: lines on standard error at a level a reload can change.
///
/// Threading: `bootstrap` once, on the main thread, before any logger is made; `level` may
/// be read and set from any thread.
public enum DaemonLogging {
    /// The level's index in `Logger.Level.allCases`: read at every log call, so an atomic
    /// rather than a lock.
    private static let current = Atomic<Int>(2)

    /// The least severe level written now.
    public static var level: Logger.Level {
        get { Logger.Level.allCases[current.load(ordering: .relaxed)] }
        set { current.store(Logger.Level.allCases.firstIndex(of: newValue) ?? 2, ordering: .relaxed) }
    }

    /// Routes swift-log to standard error at `level`.
    public static func bootstrap(level: Logger.Level) {
        self.level = level
        LoggingSystem.bootstrap { label in SwitchableLevelHandler(inner: StreamLogHandler.standardError(label: label)) }
    }
}

/// A stream handler whose level is `DaemonLogging.level`, read at every message.
struct SwitchableLevelHandler: LogHandler {
    var inner: StreamLogHandler

    var logLevel: Logger.Level {
        get { DaemonLogging.level }
        set { DaemonLogging.level = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    /// Every line written is made printable here, the one place for the log: a message or
    /// a metadata value that carries text from outside (a peer's name, a type, a path)
    /// cannot forge a line or send an escape sequence to whoever reads the log.
    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: Printable.text(event.message.description))
        event.metadata = event.metadata?.mapValues(Self.printable)
        inner.log(event: event)
    }

    static func printable(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): .string(Printable.text(text))
        case .stringConvertible(let convertible): .string(Printable.text(convertible.description))
        case .array(let values): .array(values.map(printable))
        case .dictionary(let values): .dictionary(values.mapValues(printable))
        }
    }
}
