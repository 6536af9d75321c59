#include "CWaylandProtocols.h"

const struct wl_interface *clipd_wl_seat_interface(void) { return &wl_seat_interface; }
const struct wl_interface *clipd_ext_data_control_manager_interface(void) { return &ext_data_control_manager_v1_interface; }
const struct wl_interface *clipd_ext_data_control_device_interface(void) { return &ext_data_control_device_v1_interface; }
const struct wl_interface *clipd_zwlr_data_control_manager_interface(void) { return &zwlr_data_control_manager_v1_interface; }
const struct wl_interface *clipd_zwlr_data_control_device_interface(void) { return &zwlr_data_control_device_v1_interface; }
