#if canImport(Glibc)
import Glibc
#endif

/// A failure the daemon or CLI reports to a person: one line, says what happened and, where
/// there is one, what to do about it.
public struct DaemonError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The text of the current `errno`, for the modules of this package.
package func errnoText() -> String { String(cString: strerror(errno)) }
