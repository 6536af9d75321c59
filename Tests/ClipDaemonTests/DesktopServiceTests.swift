import ClipSync
import ClipboardBackends
@testable import ClipDaemon
import ClipWire
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// The desktop piece on a hand-driven loop, with a recording backend and a real engine:
/// which copies become items, what a peer's item shows on the desktop, a clipboard
/// manager's restore, and the reasons pastes failed that `clipd status` shows.
@Suite("Desktop piece: copies in, items out")
struct DesktopServiceTests {
    /// Remembers what the desktop was given to own.
    final class RecordingBackend: ClipboardBackend {
        var owned: [(header: ItemHeader, content: ItemContent)] = []
        let description = "recording"
        func start(onCopy: @escaping @Sendable (LocalCopy) -> Void, onReconnect: @escaping @Sendable () -> Void, log: @escaping @Sendable (String) -> Void) throws {}
        func own(_ header: ItemHeader, content: ItemContent) { owned.append((header, content)) }
        func stop() {}
        var ownedTypes: [[String]] { owned.map { $0.header.representations.map(\.mimeType) } }
    }

    /// Takes local copies straight into the engine, as the daemon does once chunked.
    final class Host: DesktopHost, @unchecked Sendable {
        // Sound as `@unchecked Sendable`: the tests touch it on their one thread only.
        let engine: SyncEngine
        var configuration = DaemonConfiguration()
        var paused = false
        var taken: [ClipItem] = []
        var cleared: [Selection] = []

        init(device: DeviceID) {
            engine = SyncEngine(deviceID: device, deviceName: "here", maximumItemSize: 64 << 20, selections: [.clipboard],
                                wallMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) })
        }

        func localView(of header: ItemHeader, held: ClipItem?) -> (header: ItemHeader, content: ItemContent) { (header, HeldContent(held!)) }

        func intakeLocalCopy(selection: Selection, representations: [RepresentationInfo], data: [UInt8], done: @escaping (ClipItem?) -> Void) {
            let item = ClipItem(header: engine.localHeader(selection: selection, representations: representations), data: data)
            _ = engine.commitLocalCopy(item)
            taken.append(item)
            done(item)
        }

        func desktopCopyTaken(_ item: ClipItem) {}
        func desktopCleared(_ selection: Selection) { cleared.append(selection) }
    }

    let loop = EmbeddedEventLoop()
    let here = DeviceID(bytes: Array(repeating: 1, count: 16))
    let backend = RecordingBackend()
    let host: Host
    let desktop: DesktopService

    init() {
        host = Host(device: here)
        desktop = DesktopService(backend: backend, host: host, device: here, loop: loop, logger: Logger(label: "test"))
    }

    func copy(_ representations: [(String, String)]) {
        desktop.copied(LocalCopy(selection: .clipboard, representations: representations.map { ($0.0, Array($0.1.utf8)) }))
    }

    func takenTypes() -> [[String]] { host.taken.map { $0.header.representations.map(\.mimeType) } }

    @Test func aCopyLeavesOutTypeNamesThatAreNoMIMETypes() {
        copy([("text/plain;charset=utf-8", "hello"), ("SECRET STUFF\u{1}", "x")])
        #expect(takenTypes() == [["text/plain;charset=utf-8"]])
        copy([("not a type", "x")])
        #expect(host.taken.count == 1, "a copy with no MIME type at all is not taken")
    }

    @Test func pausedOversizedAndEmptiedCopiesAreNotTaken() {
        host.paused = true
        copy([("text/plain", "stays here")])
        host.paused = false
        host.configuration.maximumItemSize = 4
        copy([("text/plain", "too long")])
        desktop.copied(LocalCopy(selection: .clipboard, representations: []))
        #expect(host.taken.isEmpty)
        #expect(host.cleared == [.clipboard])
        host.configuration.maximumItemSize = 64 << 20
        copy([("text/plain", "taken")])
        #expect(host.taken.count == 1)
    }

    @Test func aManagersRestoreOfOlderTextKeepsTheNewerItemOnTheDesktop() throws {
        copy([("text/plain", "older")])
        // `clipd send` makes a newer item, which the desktop is given.
        let newer = ClipItem(header: host.engine.localHeader(selection: .clipboard, representations: [RepresentationInfo(mimeType: "text/plain", size: 5)]),
                             data: Array("newer".utf8))
        _ = host.engine.commitLocalCopy(newer)
        desktop.showSent(newer)
        // A manager puts the older text back at once: not a copy; the newer goes back.
        copy([("text/plain", "older")])
        #expect(host.taken.count == 1)
        #expect(backend.owned.count == 2 && backend.owned.last?.header.id == newer.id)
        // Text the daemon never knew is a copy like any other.
        copy([("text/plain", "brand new")])
        #expect(host.taken.count == 2)
    }

    @Test func aPeersItemShowsWithoutTypesTheDesktopDoesNotWrite() throws {
        let peer = SyncEngine(deviceID: DeviceID(bytes: Array(repeating: 2, count: 16)), deviceName: "peer", maximumItemSize: 64 << 20,
                              selections: [.clipboard], wallMilliseconds: { UInt64(Date().timeIntervalSince1970 * 1000) })
        let types = ["text/plain", "application/x-peer-private", "image/png"]
        let header = peer.localHeader(selection: .clipboard, representations: types.map { RepresentationInfo(mimeType: $0, size: 1) })
        desktop.show(header, held: ClipItem(header: header, data: Array("abc".utf8)))
        #expect(backend.ownedTypes == [["text/plain", "image/png"]])
        // This machine's own item shows whole; the configuration's extra types show too.
        let own = host.engine.localHeader(selection: .clipboard, representations: types.map { RepresentationInfo(mimeType: $0, size: 1) })
        desktop.show(own, held: ClipItem(header: own, data: Array("abc".utf8)))
        host.configuration.extraMIMETypes = ["application/x-peer-private"]
        desktop.show(header, held: ClipItem(header: header, data: Array("abc".utf8)))
        #expect(backend.ownedTypes.dropFirst() == [types, types])
        // A peer's item with none of the types left is not shown at all.
        let opaque = peer.localHeader(selection: .clipboard, representations: [RepresentationInfo(mimeType: "application/x-other", size: 1)])
        desktop.show(opaque, held: ClipItem(header: opaque, data: [1]))
        #expect(backend.owned.count == 3)
    }

    @Test func aFailedPasteIsToldUntilOneSucceedsAndOnlyWhileItsItemIsCurrent() {
        copy([("text/plain", "first")])
        let first = host.taken[0].id
        desktop.pasteFailed(first, reason: "the peer went away")
        #expect(desktop.undeliveredReason(first) == "the peer went away")
        desktop.pasteServed(first)
        #expect(desktop.undeliveredReason(first) == nil)
        desktop.pasteFailed(first, reason: "again")
        copy([("text/plain", "second")])
        let second = host.taken[1].id
        desktop.pasteFailed(second, reason: "cannot write the files")
        #expect(desktop.undeliveredReason(first) == nil, "a reason is dropped once its item is no longer current")
        #expect(desktop.undeliveredReason(second) == "cannot write the files")
    }
}
