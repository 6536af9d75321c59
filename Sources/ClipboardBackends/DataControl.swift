import CWaylandClient
import CWaylandProtocols

/// The requests clipd makes on a data-control protocol. ext-data-control-v1 and
/// zwlr_data_control_manager_v1 (version 2) are one protocol under two names: the same
/// objects, requests, events and opcodes. This table lets the display connection speak either one
/// through the committed generated glue. All proxies are `OpaquePointer`s.
///
/// Sound as `@unchecked Sendable`: every field is immutable, the closures capture nothing,
/// and the interface pointer is the address of constant data in the generated glue.
struct DataControl: @unchecked Sendable {
    /// The manager's global interface name, as the registry announces it.
    let name: String
    let managerInterface: UnsafePointer<wl_interface>
    /// The highest manager version clipd speaks; primary selection needs 2 on wlr.
    let highestVersion: UInt32
    /// The first manager version with the primary selection.
    let primarySince: UInt32
    let getDevice: (_ manager: OpaquePointer, _ seat: OpaquePointer) -> OpaquePointer?
    let createSource: (_ manager: OpaquePointer) -> OpaquePointer?
    let destroyManager: (OpaquePointer) -> Void
    let setSelection: (_ device: OpaquePointer, _ source: OpaquePointer?) -> Void
    let setPrimarySelection: (_ device: OpaquePointer, _ source: OpaquePointer?) -> Void
    let destroyDevice: (OpaquePointer) -> Void
    let offerType: (_ source: OpaquePointer, _ mimeType: String) -> Void
    let destroySource: (OpaquePointer) -> Void
    let receive: (_ offer: OpaquePointer, _ mimeType: String, _ fd: Int32) -> Void
    let destroyOffer: (OpaquePointer) -> Void
    /// Listeners take the session as user data (see `WaylandDisplayConnection.userData`).
    let listenToDevice: (OpaquePointer, UnsafeMutableRawPointer) -> Void
    let listenToSource: (OpaquePointer, UnsafeMutableRawPointer) -> Void
    let listenToOffer: (OpaquePointer, UnsafeMutableRawPointer) -> Void

    /// ext-data-control-v1: what newer compositors ship (KDE Plasma 6, COSMIC, wlroots 0.19).
    static let ext = DataControl(
        name: "ext_data_control_manager_v1",
        managerInterface: clipd_ext_data_control_manager_interface(),
        highestVersion: 1, primarySince: 1,
        getDevice: { ext_data_control_manager_v1_get_data_device($0, $1) },
        createSource: { ext_data_control_manager_v1_create_data_source($0) },
        destroyManager: { ext_data_control_manager_v1_destroy($0) },
        setSelection: { ext_data_control_device_v1_set_selection($0, $1) },
        setPrimarySelection: { ext_data_control_device_v1_set_primary_selection($0, $1) },
        destroyDevice: { ext_data_control_device_v1_destroy($0) },
        offerType: { ext_data_control_source_v1_offer($0, $1) },
        destroySource: { ext_data_control_source_v1_destroy($0) },
        receive: { ext_data_control_offer_v1_receive($0, $1, $2) },
        destroyOffer: { ext_data_control_offer_v1_destroy($0) },
        listenToDevice: { _ = ext_data_control_device_v1_add_listener($0, DataControlListeners.extDevice, $1) },
        listenToSource: { _ = ext_data_control_source_v1_add_listener($0, DataControlListeners.extSource, $1) },
        listenToOffer: { _ = ext_data_control_offer_v1_add_listener($0, DataControlListeners.extOffer, $1) })

    /// wlr-data-control-unstable-v1: wlroots compositors (sway, Hyprland, river, labwc).
    static let wlr = DataControl(
        name: "zwlr_data_control_manager_v1",
        managerInterface: clipd_zwlr_data_control_manager_interface(),
        highestVersion: 2, primarySince: 2,
        getDevice: { zwlr_data_control_manager_v1_get_data_device($0, $1) },
        createSource: { zwlr_data_control_manager_v1_create_data_source($0) },
        destroyManager: { zwlr_data_control_manager_v1_destroy($0) },
        setSelection: { zwlr_data_control_device_v1_set_selection($0, $1) },
        setPrimarySelection: { zwlr_data_control_device_v1_set_primary_selection($0, $1) },
        destroyDevice: { zwlr_data_control_device_v1_destroy($0) },
        offerType: { zwlr_data_control_source_v1_offer($0, $1) },
        destroySource: { zwlr_data_control_source_v1_destroy($0) },
        receive: { zwlr_data_control_offer_v1_receive($0, $1, $2) },
        destroyOffer: { zwlr_data_control_offer_v1_destroy($0) },
        listenToDevice: { _ = zwlr_data_control_device_v1_add_listener($0, DataControlListeners.wlrDevice, $1) },
        listenToSource: { _ = zwlr_data_control_source_v1_add_listener($0, DataControlListeners.wlrSource, $1) },
        listenToOffer: { _ = zwlr_data_control_offer_v1_add_listener($0, DataControlListeners.wlrOffer, $1) })

    /// Preferred first.
    static let all = [ext, wlr]
}

/// The listener tables libwayland calls through, allocated once and never freed (proxies
/// keep pointers to them). Both protocols get the same functions: their events carry the
/// same arguments. Every function finds its session in the user data.
enum DataControlListeners {
    nonisolated(unsafe) static let extDevice = allocated(ext_data_control_device_v1_listener(
        data_offer: { data, _, offer in WaylandDisplayConnection.from(data).offerAnnounced(offer) },
        selection: { data, _, offer in WaylandDisplayConnection.from(data).selectionChanged(.clipboard, offer: offer) },
        finished: { data, _ in WaylandDisplayConnection.from(data).deviceFinished() },
        primary_selection: { data, _, offer in WaylandDisplayConnection.from(data).selectionChanged(.primary, offer: offer) }))
    nonisolated(unsafe) static let wlrDevice = allocated(zwlr_data_control_device_v1_listener(
        data_offer: { data, _, offer in WaylandDisplayConnection.from(data).offerAnnounced(offer) },
        selection: { data, _, offer in WaylandDisplayConnection.from(data).selectionChanged(.clipboard, offer: offer) },
        finished: { data, _ in WaylandDisplayConnection.from(data).deviceFinished() },
        primary_selection: { data, _, offer in WaylandDisplayConnection.from(data).selectionChanged(.primary, offer: offer) }))
    nonisolated(unsafe) static let extSource = allocated(ext_data_control_source_v1_listener(
        send: { data, source, type, fd in WaylandDisplayConnection.from(data).sendRequested(source, mimeType: type, fd: fd) },
        cancelled: { data, source in WaylandDisplayConnection.from(data).sourceCancelled(source) }))
    nonisolated(unsafe) static let wlrSource = allocated(zwlr_data_control_source_v1_listener(
        send: { data, source, type, fd in WaylandDisplayConnection.from(data).sendRequested(source, mimeType: type, fd: fd) },
        cancelled: { data, source in WaylandDisplayConnection.from(data).sourceCancelled(source) }))
    nonisolated(unsafe) static let extOffer = allocated(ext_data_control_offer_v1_listener(
        offer: { data, offer, type in WaylandDisplayConnection.from(data).offerHasType(offer, type) }))
    nonisolated(unsafe) static let wlrOffer = allocated(zwlr_data_control_offer_v1_listener(
        offer: { data, offer, type in WaylandDisplayConnection.from(data).offerHasType(offer, type) }))
    nonisolated(unsafe) static let registry = allocated(wl_registry_listener(
        global: { data, _, name, interface, version in WaylandDisplayConnection.from(data).globalAdded(name: name, interface: interface, version: version) },
        global_remove: { data, _, name in WaylandDisplayConnection.from(data).globalRemoved(name: name) }))
    nonisolated(unsafe) static let seat = allocated(wl_seat_listener(capabilities: { _, _, _ in }, name: { _, _, _ in }))

    private static func allocated<Listener>(_ listener: Listener) -> UnsafeMutablePointer<Listener> {
        let pointer = UnsafeMutablePointer<Listener>.allocate(capacity: 1)
        pointer.initialize(to: listener)
        return pointer
    }
}
