import ClipTestSupport
import Foundation
import Testing

/// passvm talks to a daemon through ClipControl alone: it links none of the desktop or
/// crypto libraries the daemon needs (issue 22, point 1).
@Suite("Packaging: passvm links no desktop or crypto library")
struct PassvmLinkageTests {
    let h = DaemonHarness()

    @Test func lddShowsNoX11WaylandOrCrypto() {
        let directory = URL(fileURLWithPath: DaemonHarness.binary).deletingLastPathComponent().path
        let libraries = ["libX11", "libXfixes", "libwayland", "libcrypto", "libssl"]
        let clipd = h.run("/usr/bin/ldd", [DaemonHarness.binary])
        #expect(clipd.status == 0 && clipd.stdout.contains("libX11") && clipd.stdout.contains("libcrypto"),
                "ldd reads the daemon's libraries (the check below means something): \(clipd.stdout)")
        let passvm = h.run("/usr/bin/ldd", [directory + "/passvm"])
        #expect(passvm.status == 0, "\(passvm.stderr)")
        for library in libraries { #expect(!passvm.stdout.contains(library), "passvm links \(library): \(passvm.stdout)") }
    }
}
