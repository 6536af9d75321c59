import Foundation

/// Which sanitizer the suite runs under, if any: `make test-sanitize` sets CLIPD_SANITIZER.
/// Tests with a time bound widen it under one (every access instrumented, and the whole
/// suite on two cores beside it), never otherwise.
public enum SanitizerRun {
    public static var current: String? { ProcessInfo.processInfo.environment["CLIPD_SANITIZER"] }
}
