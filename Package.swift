// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "clipd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "clipd", targets: ["clipd"]),
        .executable(name: "passvm", targets: ["passvm"]),
        .executable(name: "clipd-bench", targets: ["clipd-bench"]),
        .executable(name: "clipd-fuzz", targets: ["clipd-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // System OpenSSL 3 (libcrypto) plus a tiny shim for what Swift cannot import.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // libX11 + XFixes for the X11 clipboard backend.
        .systemLibrary(
            name: "CX11",
            pkgConfig: "x11",
            providers: [.apt(["libx11-dev", "libxfixes-dev"])]
        ),
        // What Swift cannot import from Xlib, and process-wide X error handling.
        .target(name: "CX11Support", dependencies: ["CX11"]),
        // libwayland-client, and the data-control protocols' generated glue (committed).
        .systemLibrary(
            name: "CWaylandClient",
            pkgConfig: "wayland-client",
            providers: [.apt(["libwayland-dev"])]
        ),
        .target(name: "CWaylandProtocols", dependencies: ["CWaylandClient"]),
        // Desktop clipboards behind one small protocol: memory, X11 and Wayland.
        .target(name: "ClipboardBackends", dependencies: ["ClipSync", "CX11", "CX11Support", "CWaylandClient", "CWaylandProtocols"]),
        // Allocator tuning from glibc's malloc.h, which Swift does not import.
        .target(name: "CClipSystem"),
        // Primitives, SPAKE2, Noise IKpsk2 and the record layer. Pure: bytes in, bytes out.
        .target(name: "ClipCrypto", dependencies: ["COpenSSL"]),
        // Frame and message codecs. Pure.
        .target(name: "ClipWire", dependencies: ["ClipCrypto"]),
        // The sync engine: items, versions, relay, fetches. Pure, no I/O.
        .target(name: "ClipSync", dependencies: ["ClipCrypto", "ClipWire", "CClipSystem"]),
        // The host's side of a guest's SPICE agent: chunk and message codecs and the bridge
        // that presents the guest to the sync engine as a peer. Pure, no I/O.
        .target(name: "ClipVDAgent", dependencies: ["ClipWire", "ClipSync"]),
        // Holds a guest's SPICE agent port for the VM's life and relays whole messages to
        // whichever clipd daemon attaches. Foundation, Glibc and ClipControl's sockets only.
        .target(name: "ClipPortHolder", dependencies: ["ClipControl"]),
        // The control socket's messages and framing, its client, the daemon's paths, the
        // version and the one-line error type: what passvm needs of clipd. Foundation, Glibc
        // and the process shim only.
        .target(name: "ClipControl", dependencies: ["CClipSystem"]),
        // Wiring: config, identity, trust store, sessions over SwiftNIO, control socket.
        .target(
            name: "ClipDaemon",
            dependencies: [
                "ClipControl", "ClipCrypto", "ClipWire", "ClipSync", "CClipSystem", "ClipboardBackends", "ClipVDAgent", "ClipTOML",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // passvm's core: VM config, host tree, checks, QEMU argv. Pure apart from reading
        // the host tree through its root directory.
        .target(name: "PassthroughCore", dependencies: ["ClipTOML"]),
        // TOML 1.0 for config, peers, identity and VM files: every problem reported in one
        // line, no input can stop the process. Pure Swift, no dependencies.
        .target(name: "ClipTOML"),
        .executableTarget(
            name: "passvm",
            dependencies: [
                "PassthroughCore", "ClipControl", "ClipPortHolder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "clipd",
            dependencies: [
                "ClipDaemon", "ClipWire", "CClipSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Vectors, a process harness for real daemons and a hand-driven raw peer; shared by
        // the tests and the benchmark.
        .target(name: "ClipTestSupport", dependencies: ["ClipCrypto", "ClipWire", "CX11", "CX11Support", "CClipTestSupport"], path: "Tests/ClipTestSupport"),
        // What the tests' process spawner needs from glibc that Swift does not import.
        .target(name: "CClipTestSupport", path: "Tests/CClipTestSupport"),
        .executableTarget(
            name: "clipd-bench",
            dependencies: ["ClipDaemon", "ClipCrypto", "ClipWire", "ClipSync", "ClipboardBackends", "ClipTestSupport", "CX11", "CX11Support"],
            path: "Benchmarks/clipd-bench"
        ),
        // Every decoder as a fuzzing step, and libFuzzer's entry for them (`make fuzz`); a
        // seed replayer otherwise.
        .target(name: "ClipFuzzTargets", dependencies: ["ClipCrypto", "ClipDaemon", "ClipPortHolder", "ClipSync", "ClipTOML", "ClipVDAgent", "ClipWire", "PassthroughCore"],
                path: "Tests/Fuzz/Targets"),
        .executableTarget(name: "clipd-fuzz", dependencies: ["ClipFuzzTargets"], path: "Tests/Fuzz/Fuzzer"),
        .testTarget(name: "FuzzReplayTests", dependencies: ["ClipFuzzTargets", "ClipTestSupport"]),
        .testTarget(name: "SoakTests", dependencies: ["ClipDaemon", "ClipTestSupport"]),
        .testTarget(name: "ClipCryptoTests", dependencies: ["ClipCrypto", "ClipTestSupport"]),
        .testTarget(name: "ClipWireTests", dependencies: ["ClipWire", "ClipTestSupport"]),
        .testTarget(name: "ClipSyncTests", dependencies: ["ClipSync", "ClipTestSupport"]),
        .testTarget(
            name: "ClipDaemonTests",
            dependencies: ["ClipCrypto", "ClipDaemon", "ClipTestSupport", "ClipboardBackends", "ClipSync", "ClipWire",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(name: "ClipVDAgentTests", dependencies: ["ClipVDAgent", "ClipSync", "ClipWire", "ClipTestSupport"]),
        .testTarget(name: "WaylandGlueTests", dependencies: ["CWaylandProtocols"]),
        .testTarget(name: "ClipPortHolderTests", dependencies: ["ClipPortHolder", "ClipVDAgent", "ClipTestSupport"]),
        .testTarget(name: "PassthroughCoreTests", dependencies: ["PassthroughCore", "ClipTestSupport"]),
        .testTarget(name: "ClipTOMLTests", dependencies: ["ClipTOML", "ClipTestSupport"]),
        // A test peer that keeps the Windows SPICE agent's rules, run in the QEMU test guest
        // on the real agent port (issue 21). Shares no code with clipd.
        .executableTarget(name: "clipd-model-agent", path: "Tests/ModelWindowsAgent"),
        // A minimal Wayland server offering ext-data-control-v1 and/or wlr-data-control, for
        // the tests no packaged compositor here can serve (none ships the ext protocol).
        .executableTarget(
            name: "clipd-test-compositor",
            path: "Tests/DataControlCompositor",
            linkerSettings: [.linkedLibrary("wayland-server")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
