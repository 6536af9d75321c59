#include "CX11Support.h"

#include <stdatomic.h>

Atom clipd_x11_none_atom(void) { return (Atom)None; }
Window clipd_x11_none_window(void) { return (Window)None; }
Time clipd_x11_current_time(void) { return (Time)CurrentTime; }

int clipd_xfixes_selection_notify(int event_base) { return event_base + XFixesSelectionNotify; }

static atomic_int last_error = 0;
static atomic_int connection_lost = 0;

static int record_error(Display *display, XErrorEvent *event) {
    (void)display;
    atomic_store(&last_error, event->error_code);
    return 0;
}

void clipd_x11_install_error_handler(void) { XSetErrorHandler(record_error); }

int clipd_x11_take_error(void) { return atomic_exchange(&last_error, 0); }

// Xlib first calls the process-wide IO error handler (its default prints and exits), then
// the display's exit handler (its default exits). Both only record the loss here.
static int record_io_error(Display *display) {
    (void)display;
    atomic_store(&connection_lost, 1);
    return 0;
}

static void record_io_error_exit(Display *display, void *data) {
    (void)display;
    (void)data;
    atomic_store(&connection_lost, 1);
}

void clipd_x11_install_io_error_handler(Display *display) {
    atomic_store(&connection_lost, 0);
    XSetIOErrorHandler(record_io_error);
    XSetIOErrorExitHandler(display, record_io_error_exit, 0);
}

int clipd_x11_connection_lost(void) { return atomic_load(&connection_lost); }

static Bool is_property_event(Display *display, XEvent *event, XPointer arg) {
    (void)display;
    const Atom *atom = (const Atom *)arg;
    return event->type == PropertyNotify && event->xproperty.atom == *atom;
}

Time clipd_x11_server_time(Display *display, Window window, Atom property) {
    unsigned char nothing = 0;
    XChangeProperty(display, window, property, XA_STRING, 8, PropModeAppend, &nothing, 0);
    XEvent event;
    XIfEvent(display, &event, is_property_event, (XPointer)&property);
    return event.xproperty.time;
}

Atom clipd_xfixes_event_selection(const XEvent *event) { return ((const XFixesSelectionNotifyEvent *)event)->selection; }
Window clipd_xfixes_event_owner(const XEvent *event) { return ((const XFixesSelectionNotifyEvent *)event)->owner; }
Time clipd_xfixes_event_timestamp(const XEvent *event) { return ((const XFixesSelectionNotifyEvent *)event)->selection_timestamp; }
