import CWaylandProtocols
import Testing

/// The committed wayland-scanner output matches the protocols clipd binds: interface names,
/// versions, and requests and events in opcode order with their wire signatures.
@Suite("Wayland data-control glue")
struct ProtocolGlueTests {
    func methods(_ interface: UnsafePointer<wl_interface>, events: Bool) -> [(String, String)] {
        let count = Int(events ? interface.pointee.event_count : interface.pointee.method_count)
        guard let list = events ? interface.pointee.events : interface.pointee.methods else { return [] }
        return (0..<count).map { (String(cString: list[$0].name), String(cString: list[$0].signature)) }
    }

    @Test func extDataControlIsVersion1WithPrimarySelection() {
        let manager = clipd_ext_data_control_manager_interface()!
        #expect(String(cString: manager.pointee.name) == "ext_data_control_manager_v1")
        #expect(manager.pointee.version == 1)
        #expect(methods(manager, events: false).map(\.0) == ["create_data_source", "get_data_device", "destroy"])
        let device = clipd_ext_data_control_device_interface()!
        #expect(methods(device, events: false).map(\.0) == ["set_selection", "destroy", "set_primary_selection"])
        #expect(methods(device, events: true).map(\.0) == ["data_offer", "selection", "finished", "primary_selection"])
        #expect(methods(device, events: true)[1].1 == "?o")
    }

    @Test func wlrDataControlIsVersion2AddingPrimarySelection() {
        let manager = clipd_zwlr_data_control_manager_interface()!
        #expect(String(cString: manager.pointee.name) == "zwlr_data_control_manager_v1")
        #expect(manager.pointee.version == 2)
        let device = clipd_zwlr_data_control_device_interface()!
        #expect(methods(device, events: false).last! == ("set_primary_selection", "2?o"))
        #expect(methods(device, events: true).last! == ("primary_selection", "2?o"))
        #expect(String(cString: clipd_wl_seat_interface()!.pointee.name) == "wl_seat")
    }
}
