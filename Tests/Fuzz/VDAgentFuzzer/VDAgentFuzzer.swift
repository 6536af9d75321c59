import ClipVDAgent
import Foundation

// The SPICE agent parser under libFuzzer (`make fuzz` builds this with -DFUZZING and
// -sanitize=fuzzer,address and runs libFuzzer's driver from main). Built without them it
// replays the files named on its command line (seeds, or a crash libFuzzer saved) through
// the same step.

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    VDAgentFuzzing.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver, for programs with a main of their own (SwiftPM's executables).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32
#endif

@main
enum VDAgentFuzzer {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOne))
        #else
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                exit(2)
            }
            data.withUnsafeBytes { VDAgentFuzzing.run($0) }
            print("\(path): ok")
        }
        #endif
    }
}
