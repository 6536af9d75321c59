import CClipSystem
import ClipSync
import ClipWire

/// What the engine's actions mean on this machine: an item for the desktop and for
/// `clipd watch`, readers of items to wake, acknowledgements for `clipd send --wait`.
extension Daemon: SyncHubLocal {
    func applied(_ header: ItemHeader, held: ClipItem?, from session: SessionID?) {
        let source = session.map { peerName(of: $0) } ?? "this device"
        logger.debug("applied item", metadata: ["item": "\(header.id)", "from": "\(source)", "bytes": "\(header.totalSize)", "held": "\(held != nil)"])
        control.watchers.notify(header.selection, .item(header, held: held))
        desktop.show(header, held: held)
        // A large item replaced another: give the freed memory back at once.
        if header.totalSize >= UInt64(LargeBuffer.hugePageThreshold) { clipd_release_free_memory() }
        scheduleMemoryTrim()
    }

    func readable(_ item: ItemID) { localReads.wake(item) }

    func actionsPerformed() { watchFetches() }
}
