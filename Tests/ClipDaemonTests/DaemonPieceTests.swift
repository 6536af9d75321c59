@testable import ClipDaemon
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// The daemon's pieces in a real `ServiceGroup` (`PieceService`): they start one after
/// another in order, the service that runs once all have started comes last, and they stop
/// in reverse; a piece that cannot start stops the ones started before it, and its error
/// is what the group throws; a shutdown during a start stops what started and starts
/// nothing more.
///
/// These are the suite's only tests that need Swift's cooperative thread pool while they
/// run (the group is async); the others block their pool thread while they wait for
/// processes, and on two cores two of them hold the whole pool, so in a full run these wait
/// until a thread is free (a CI run kept them waiting about four minutes). Their limit
/// covers that; alone they take milliseconds.
@Suite("Daemon pieces: started in order, stopped in reverse", .timeLimit(.minutes(10)))
struct DaemonPieceTests {
    /// What happened, in order, across pieces and tasks.
    final class Journal: @unchecked Sendable {
        // Sound as `@unchecked Sendable`: `entries` is only touched under `lock`.
        private let lock = NSLock()
        private var entries: [String] = []

        func add(_ entry: String) { lock.withLock { entries.append(entry) } }
        var all: [String] { lock.withLock { entries } }

        /// Waits until `entry` is in the journal (for at most ten seconds).
        func waitFor(_ entry: String) async {
            for _ in 0..<1000 where !all.contains(entry) { try? await Task.sleep(for: .milliseconds(10)) }
        }
    }

    /// A piece that records its start and stop; its start can fail, or wait until the
    /// journal has `startsAfter`.
    final class Piece: DaemonPiece, @unchecked Sendable {
        // Sound as `@unchecked Sendable`: every member is a constant.
        let pieceName: String
        let journal: Journal
        let failure: DaemonError?
        let startsAfter: String?

        init(_ name: String, _ journal: Journal, failing failure: DaemonError? = nil, startsAfter: String? = nil) {
            pieceName = name
            self.journal = journal
            self.failure = failure
            self.startsAfter = startsAfter
        }

        func start() async throws {
            journal.add("start \(pieceName)")
            if let startsAfter { await journal.waitFor(startsAfter) }
            if let failure { throw failure }
            journal.add("started \(pieceName)")
        }

        func stop() async { journal.add("stop \(pieceName)") }
    }

    /// Runs once every piece has started, until the group shuts down.
    struct Ready: Service {
        let journal: Journal
        func run() async throws {
            journal.add("ready")
            try? await gracefulShutdown()
            journal.add("ready ends")
        }
    }

    func group() -> ServiceGroup {
        ServiceGroup(configuration: .init(services: [ServiceGroupConfiguration.ServiceConfiguration](), logger: Logger(label: "test")))
    }

    @Test func piecesStartInOrderAndStopInReverse() async throws {
        let journal = Journal()
        let services = group()
        await PieceService.add(["control", "hub", "desktop", "links"].map { Piece($0, journal) }, then: Ready(journal: journal), to: services)
        let running = Task { try await services.run() }
        await journal.waitFor("ready")
        await services.triggerGracefulShutdown()
        try await running.value
        #expect(journal.all == [
            "start control", "started control", "start hub", "started hub", "start desktop", "started desktop", "start links", "started links",
            "ready", "ready ends", "stop links", "stop desktop", "stop hub", "stop control",
        ])
    }

    @Test func aPieceThatCannotStartStopsTheOnesBeforeItAndItsErrorEndsTheGroup() async {
        let journal = Journal()
        let services = group()
        let pieces = [Piece("control", journal), Piece("hub", journal), Piece("desktop", journal, failing: DaemonError("cannot open display :9")), Piece("links", journal)]
        await PieceService.add(pieces, then: Ready(journal: journal), to: services)
        await #expect(throws: DaemonError("cannot open display :9")) { try await services.run() }
        #expect(journal.all == ["start control", "started control", "start hub", "started hub", "start desktop", "stop hub", "stop control"])
    }

    @Test func aShutdownDuringAStartStopsWhatStartedAndStartsNothingMore() async throws {
        let journal = Journal()
        let services = group()
        // The hub's start finishes only after the shutdown was asked for.
        let pieces = [Piece("control", journal), Piece("hub", journal, startsAfter: "shutdown asked"), Piece("links", journal)]
        await PieceService.add(pieces, then: Ready(journal: journal), to: services)
        let running = Task { try await services.run() }
        await journal.waitFor("start hub")
        await services.triggerGracefulShutdown()
        journal.add("shutdown asked")
        try await running.value
        #expect(journal.all == ["start control", "started control", "start hub", "shutdown asked", "started hub", "stop hub", "stop control"])
    }
}
