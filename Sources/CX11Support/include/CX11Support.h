// Helpers for the X11 backend: what Swift cannot import from Xlib as it is, and the error
// handlers. The error state lives in x11support.c, one copy for the whole process (a
// `static` in a header would give every Swift file its own copy).
#ifndef CLIPD_CX11SUPPORT_H
#define CLIPD_CX11SUPPORT_H

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>

// `None` and `CurrentTime` import as Int while Atom, Window and Time are unsigned long.
Atom clipd_x11_none_atom(void);
Window clipd_x11_none_window(void);
Time clipd_x11_current_time(void);

int clipd_xfixes_selection_notify(int event_base);

// Protocol errors (a requestor that vanished: BadWindow) are recorded, never fatal.
void clipd_x11_install_error_handler(void);
int clipd_x11_take_error(void);

// Losing the X server is recorded and returned from, instead of exiting the process.
void clipd_x11_install_io_error_handler(Display *display);
int clipd_x11_connection_lost(void);

// The server time of a zero-length append to `property` on `window` (ICCCM wants a real
// timestamp for XSetSelectionOwner). Other events stay queued.
Time clipd_x11_server_time(Display *display, Window window, Atom property);

// Fields of the XFixes event, which is not a member of the XEvent union.
Atom clipd_xfixes_event_selection(const XEvent *event);
Window clipd_xfixes_event_owner(const XEvent *event);
Time clipd_xfixes_event_timestamp(const XEvent *event);

#endif
