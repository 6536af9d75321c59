// libwayland-client for clipd's Wayland backend.
#ifndef CLIPD_CWAYLANDCLIENT_SHIM_H
#define CLIPD_CWAYLANDCLIENT_SHIM_H

#include <wayland-client.h>

#endif
