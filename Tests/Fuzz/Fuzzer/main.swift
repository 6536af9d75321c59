import ClipFuzzTargets
import Foundation

// Every fuzz target of the project under libFuzzer (`make fuzz` builds this with -DFUZZING
// and -sanitize=fuzzer,address). The target is named by CLIPD_FUZZ_TARGET. Built without
// fuzzing, it replays the files named on its command line through the same step. Either way
// `--list` prints the targets and their input limits, and `--write-seeds DIR` writes each
// target's generated seeds to DIR/TARGET/.

let targetName = ProcessInfo.processInfo.environment["CLIPD_FUZZ_TARGET"] ?? ""

#if FUZZING
nonisolated(unsafe) var selected: (@Sendable (UnsafeRawBufferPointer) -> Void)?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver, for programs with a main of their own (SwiftPM's executables).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif

func usage() -> Never {
    FileHandle.standardError.write(Data("set CLIPD_FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: ", "))\n".utf8))
    exit(2)
}

if CommandLine.arguments.count == 2, CommandLine.arguments[1] == "--list" {
    for target in FuzzTargets.all { print("\(target.name) \(target.maximumLength)") }
    exit(0)
}
if CommandLine.arguments.count == 3, CommandLine.arguments[1] == "--write-seeds" {
    for target in FuzzTargets.all {
        let directory = CommandLine.arguments[2] + "/" + target.name
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, seed) in FuzzSeeds.generated(for: target.name).enumerated() {
            _ = FileManager.default.createFile(atPath: "\(directory)/generated-\(index)", contents: Data(seed))
        }
    }
    exit(0)
}
guard let target = FuzzTargets.target(named: targetName) else { usage() }
#if FUZZING
selected = target.run
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv, fuzzOne))
#else
for path in CommandLine.arguments.dropFirst() {
    guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
        exit(2)
    }
    data.withUnsafeBytes { target.run($0) }
    print("\(path): ok")
}
#endif
