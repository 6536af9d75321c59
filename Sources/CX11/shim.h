// Xlib and XFixes for clipd's X11 backend. The helpers Swift needs live in CX11Support.
#ifndef CLIPD_CX11_SHIM_H
#define CLIPD_CX11_SHIM_H

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>

#endif
