import ClipSync
import ClipWire
import NIOCore

/// The `clipd send --wait` clients waiting for every connected peer's acknowledgement of
/// their item, by item. Each is answered once: when the last peer has acknowledged (with
/// every peer's problem, if any), when its time is up (naming who did not answer), or not
/// at all if the client went away first.
///
/// Confined to the daemon's event loop.
final class SendWaits {
    /// One client's wait: who still owes an acknowledgement (session: name), and what the
    /// ones that answered refused.
    private final class Wait {
        let reply: ControlConnection
        var pending: [SessionID: String]
        var problems: [String] = []
        var timer: Scheduled<Void>?

        init(reply: ControlConnection, pending: [SessionID: String]) {
            self.reply = reply
            self.pending = pending
        }
    }

    private let loop: EventLoop
    private var waits: [ItemID: Wait] = [:]

    init(loop: EventLoop) { self.loop = loop }

    /// `reply` waits for the sessions in `pending` (by name) to acknowledge `item`, for at
    /// most `timeout`.
    func add(_ item: ItemID, reply: ControlConnection, pending: [SessionID: String], timeout: TimeAmount) {
        let wait = Wait(reply: reply, pending: pending)
        let this = NIOLoopBound(self, eventLoop: loop)
        wait.timer = loop.scheduleTask(in: timeout) {
            guard let waiting = this.value.waits.removeValue(forKey: item) else { return }
            let names = waiting.pending.values.sorted().joined(separator: ", ")
            waiting.reply.finish(.failure("timed out after \(timeout.nanoseconds / 1_000_000) ms waiting for \(names) to acknowledge"))
        }
        waits[item] = wait
    }

    /// Whether a client waits for `session`'s acknowledgement.
    func waitsForAcknowledgement(from session: SessionID) -> Bool { waits.values.contains { $0.pending[session] != nil } }

    /// A session acknowledged an item.
    func acknowledged(_ item: ItemID, by session: SessionID, status: SessionMessage.Ack.Status) {
        guard let wait = waits[item], let name = wait.pending.removeValue(forKey: session) else { return }
        switch status {
        case .applied, .alreadyHeld: break
        case .superseded: wait.problems.append("\(name) kept a newer item")
        case .tooLarge: wait.problems.append("\(name) refused the item: over its maximum size")
        case .failed: wait.problems.append("\(name) could not fetch the item")
        case .ignored: wait.problems.append("\(name) did not take the item (it does not sync this selection, or takes none of its types)")
        case .refused: wait.problems.append("\(name) refused the item: its settings for this device do not take it")
        case .clockAhead: wait.problems.append("\(name) refused the item: this machine's clock is more than 5 minutes ahead of \(name)'s")
        }
        finishIfDone(item, wait)
    }

    /// A session ended: it will not acknowledge what it owes.
    func sessionEnded(_ session: SessionID, name: String) {
        for (item, wait) in waits where wait.pending[session] != nil {
            wait.pending[session] = nil
            wait.problems.append("\(name) disconnected before acknowledging")
            finishIfDone(item, wait)
        }
    }

    /// The client went away: its waits are dropped unanswered.
    func clientClosed(_ client: ControlConnection) {
        for (item, wait) in waits where wait.reply === client {
            wait.timer?.cancel()
            waits[item] = nil
        }
    }

    private func finishIfDone(_ item: ItemID, _ wait: Wait) {
        guard wait.pending.isEmpty else { return }
        wait.timer?.cancel()
        waits[item] = nil
        if wait.problems.isEmpty {
            wait.reply.finish(ControlResponse(ok: true))
        } else {
            var response = ControlResponse.failure(wait.problems.joined(separator: "; "))
            response.notes = wait.problems
            wait.reply.finish(response)
        }
    }
}
