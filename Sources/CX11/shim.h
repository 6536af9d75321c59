// Xlib and XFixes for clipd's X11 backend, plus the few things Swift cannot import as they
// are. Nothing here holds state except the error flag written by the error handler.
#ifndef CLIPD_CX11_SHIM_H
#define CLIPD_CX11_SHIM_H

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>

// `None` and `CurrentTime` import as Int while Atom, Window and Time are unsigned long.
static inline Atom clipd_x11_none_atom(void) { return (Atom)None; }
static inline Window clipd_x11_none_window(void) { return (Window)None; }
static inline Time clipd_x11_current_time(void) { return (Time)CurrentTime; }

static inline int clipd_xfixes_selection_notify(int event_base) { return event_base + XFixesSelectionNotify; }

// The default Xlib error handler exits the process (a requestor that vanishes mid-transfer
// raises BadWindow). This one records the last error code and carries on.
static int clipd_x11_last_error = 0;
static inline int clipd_x11_error_handler(Display *display, XErrorEvent *event) {
    (void)display;
    clipd_x11_last_error = event->error_code;
    return 0;
}
static inline void clipd_x11_install_error_handler(void) { XSetErrorHandler(clipd_x11_error_handler); }
static inline int clipd_x11_take_error(void) {
    int code = clipd_x11_last_error;
    clipd_x11_last_error = 0;
    return code;
}

// Losing the X server calls the IO error exit handler, whose default exits the process.
// This one records the loss and returns; the backend then abandons that Display and
// reconnects later.
static int clipd_x11_io_error = 0;
static inline void clipd_x11_io_error_exit(Display *display, void *data) {
    (void)display;
    (void)data;
    clipd_x11_io_error = 1;
}
static inline void clipd_x11_install_io_error_handler(Display *display) {
    clipd_x11_io_error = 0;
    XSetIOErrorExitHandler(display, clipd_x11_io_error_exit, 0);
}
static inline int clipd_x11_connection_lost(void) { return clipd_x11_io_error; }

// Waits for the PropertyNotify that a zero-length append to `property` on `window`
// produces, and returns its server time: ICCCM wants a real timestamp for
// XSetSelectionOwner, never CurrentTime. Other events stay queued.
static inline Bool clipd_x11_is_property_event(Display *display, XEvent *event, XPointer arg) {
    (void)display;
    const Atom *atom = (const Atom *)arg;
    return event->type == PropertyNotify && event->xproperty.atom == *atom;
}
static inline Time clipd_x11_server_time(Display *display, Window window, Atom property) {
    unsigned char nothing = 0;
    XChangeProperty(display, window, property, XA_STRING, 8, PropModeAppend, &nothing, 0);
    XEvent event;
    XIfEvent(display, &event, clipd_x11_is_property_event, (XPointer)&property);
    return event.xproperty.time;
}

// The XFixes event is not a member of the XEvent union.
static inline Atom clipd_xfixes_event_selection(const XEvent *event) {
    return ((const XFixesSelectionNotifyEvent *)event)->selection;
}
static inline Window clipd_xfixes_event_owner(const XEvent *event) {
    return ((const XFixesSelectionNotifyEvent *)event)->owner;
}
static inline Time clipd_xfixes_event_timestamp(const XEvent *event) {
    return ((const XFixesSelectionNotifyEvent *)event)->selection_timestamp;
}

#endif
