// clipd-test-compositor: the smallest Wayland server that offers a seat and the
// data-control protocols, for tests of what no packaged compositor here ships:
// ext-data-control-v1 (and a compositor offering both protocols, or wlr version 1 only).
//
// Usage: XDG_RUNTIME_DIR=DIR clipd-test-compositor SOCKET [--ext] [--wlr=VERSION]
//
// It keeps one source per selection, announces every change to every device with a
// fresh offer, forwards an offer's receive to the source as send, and cancels a source
// when another replaces it (before announcing the new one, as wlroots does). No outputs,
// no input, no rendering. Test-only: it trusts its clients.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wayland-server.h>

#include "ext-data-control-v1-server.h"
#include "wlr-data-control-unstable-v1-server.h"

// The interface tables are the generated private code clipd's client glue already commits.
#include "../../Sources/CWaylandProtocols/ext-data-control-v1-protocol.c"
#include "../../Sources/CWaylandProtocols/wlr-data-control-unstable-v1-protocol.c"

// Both protocols share objects, requests, events and opcodes; only the interfaces differ.
enum { EVENT_DATA_OFFER = 0, EVENT_SELECTION = 1, EVENT_PRIMARY_SELECTION = 3 };
enum { EVENT_SOURCE_SEND = 0, EVENT_SOURCE_CANCELLED = 1, EVENT_OFFER_OFFER = 0 };
enum { CLIPBOARD = 0, PRIMARY = 1, MAX_TYPES = 64 };

struct flavour {
    const struct wl_interface *manager, *device, *source, *offer;
    uint32_t primary_since;
};

static const struct flavour ext_flavour = {
    &ext_data_control_manager_v1_interface, &ext_data_control_device_v1_interface,
    &ext_data_control_source_v1_interface, &ext_data_control_offer_v1_interface, 1};
static const struct flavour wlr_flavour = {
    &zwlr_data_control_manager_v1_interface, &zwlr_data_control_device_v1_interface,
    &zwlr_data_control_source_v1_interface, &zwlr_data_control_offer_v1_interface, 2};

struct source {
    struct wl_resource *resource;
    char *types[MAX_TYPES];
    int type_count;
};

struct device {
    struct wl_resource *resource;
    const struct flavour *flavour;
    struct wl_list link;
};

struct offer {
    int selection;
    unsigned serial;
};

static struct source *current[2];
static unsigned serial[2];
static struct wl_list devices;

static void destroy_resource(struct wl_client *client, struct wl_resource *resource) {
    (void)client;
    wl_resource_destroy(resource);
}

// Offers.

static void offer_receive(struct wl_client *client, struct wl_resource *resource, const char *type, int32_t fd) {
    (void)client;
    struct offer *offer = wl_resource_get_user_data(resource);
    struct source *source = current[offer->selection];
    if (source && serial[offer->selection] == offer->serial) wl_resource_post_event(source->resource, EVENT_SOURCE_SEND, type, fd);
    close(fd);
}

static const struct ext_data_control_offer_v1_interface offer_requests = {offer_receive, destroy_resource};

static void offer_gone(struct wl_resource *resource) { free(wl_resource_get_user_data(resource)); }

static void announce(struct device *device, int selection) {
    uint32_t version = wl_resource_get_version(device->resource);
    if (selection == PRIMARY && version < device->flavour->primary_since) return;
    uint32_t event = selection == CLIPBOARD ? EVENT_SELECTION : EVENT_PRIMARY_SELECTION;
    struct source *source = current[selection];
    if (!source) {
        wl_resource_post_event(device->resource, event, NULL);
        return;
    }
    struct wl_client *client = wl_resource_get_client(device->resource);
    struct wl_resource *resource = wl_resource_create(client, device->flavour->offer, version, 0);
    struct offer *offer = calloc(1, sizeof *offer);
    offer->selection = selection;
    offer->serial = serial[selection];
    wl_resource_set_implementation(resource, &offer_requests, offer, offer_gone);
    wl_resource_post_event(device->resource, EVENT_DATA_OFFER, resource);
    for (int i = 0; i < source->type_count; i++) wl_resource_post_event(resource, EVENT_OFFER_OFFER, source->types[i]);
    wl_resource_post_event(device->resource, event, resource);
}

static void replace(int selection, struct source *source) {
    struct source *old = current[selection];
    if (old == source) return;
    if (old) wl_resource_post_event(old->resource, EVENT_SOURCE_CANCELLED);
    current[selection] = source;
    serial[selection]++;
    struct device *device;
    wl_list_for_each(device, &devices, link) announce(device, selection);
}

// Sources.

static void source_offer(struct wl_client *client, struct wl_resource *resource, const char *type) {
    (void)client;
    struct source *source = wl_resource_get_user_data(resource);
    if (source->type_count < MAX_TYPES) source->types[source->type_count++] = strdup(type);
}

static const struct ext_data_control_source_v1_interface source_requests = {source_offer, destroy_resource};

static void source_gone(struct wl_resource *resource) {
    struct source *source = wl_resource_get_user_data(resource);
    for (int selection = CLIPBOARD; selection <= PRIMARY; selection++) {
        if (current[selection] == source) {
            current[selection] = NULL;  // no cancel: the source is gone already
            serial[selection]++;
            struct device *device;
            wl_list_for_each(device, &devices, link) announce(device, selection);
        }
    }
    for (int i = 0; i < source->type_count; i++) free(source->types[i]);
    free(source);
}

// Devices.

static void set_selection(struct wl_client *client, struct wl_resource *resource, struct wl_resource *source) {
    (void)client;
    (void)resource;
    replace(CLIPBOARD, source ? wl_resource_get_user_data(source) : NULL);
}

static void set_primary_selection(struct wl_client *client, struct wl_resource *resource, struct wl_resource *source) {
    (void)client;
    (void)resource;
    replace(PRIMARY, source ? wl_resource_get_user_data(source) : NULL);
}

static const struct ext_data_control_device_v1_interface device_requests = {set_selection, destroy_resource, set_primary_selection};

static void device_gone(struct wl_resource *resource) {
    struct device *device = wl_resource_get_user_data(resource);
    wl_list_remove(&device->link);
    free(device);
}

// Managers.

static void create_data_source(struct wl_client *client, struct wl_resource *manager, uint32_t id) {
    const struct flavour *flavour = wl_resource_get_user_data(manager);
    struct wl_resource *resource = wl_resource_create(client, flavour->source, wl_resource_get_version(manager), id);
    struct source *source = calloc(1, sizeof *source);
    source->resource = resource;
    wl_resource_set_implementation(resource, &source_requests, source, source_gone);
}

static void get_data_device(struct wl_client *client, struct wl_resource *manager, uint32_t id, struct wl_resource *seat) {
    (void)seat;
    const struct flavour *flavour = wl_resource_get_user_data(manager);
    struct device *device = calloc(1, sizeof *device);
    device->flavour = flavour;
    device->resource = wl_resource_create(client, flavour->device, wl_resource_get_version(manager), id);
    wl_resource_set_implementation(device->resource, &device_requests, device, device_gone);
    wl_list_insert(&devices, &device->link);
    announce(device, CLIPBOARD);
    announce(device, PRIMARY);
}

static const struct ext_data_control_manager_v1_interface manager_requests = {create_data_source, get_data_device, destroy_resource};

static void bind_manager(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
    const struct flavour *flavour = data;
    struct wl_resource *resource = wl_resource_create(client, flavour->manager, version, id);
    wl_resource_set_implementation(resource, &manager_requests, data, NULL);
}

// The seat: clipd only names it; any request on it is refused.

static void seat_unsupported(struct wl_client *client, struct wl_resource *resource, uint32_t id) {
    (void)client;
    (void)id;
    wl_resource_post_error(resource, 0, "clipd-test-compositor has no input devices");
}

static const struct wl_seat_interface seat_requests = {seat_unsupported, seat_unsupported, seat_unsupported, destroy_resource};

static void bind_seat(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
    (void)data;
    struct wl_resource *resource = wl_resource_create(client, &wl_seat_interface, version, id);
    wl_resource_set_implementation(resource, &seat_requests, NULL, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: XDG_RUNTIME_DIR=DIR clipd-test-compositor SOCKET [--ext] [--wlr=VERSION]\n");
        return 2;
    }
    wl_list_init(&devices);
    struct wl_display *display = wl_display_create();
    if (wl_display_add_socket(display, argv[1]) != 0) {
        fprintf(stderr, "clipd-test-compositor: cannot listen on %s (is XDG_RUNTIME_DIR set?)\n", argv[1]);
        return 1;
    }
    wl_global_create(display, &wl_seat_interface, 1, NULL, bind_seat);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--ext") == 0) {
            wl_global_create(display, &ext_data_control_manager_v1_interface, 1, (void *)&ext_flavour, bind_manager);
        } else if (strncmp(argv[i], "--wlr=", 6) == 0) {
            int version = atoi(argv[i] + 6);
            if (version < 1 || version > 2) version = 2;
            wl_global_create(display, &zwlr_data_control_manager_v1_interface, version, (void *)&wlr_flavour, bind_manager);
        } else {
            fprintf(stderr, "clipd-test-compositor: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    wl_display_run(display);
    wl_display_destroy(display);
    return 0;
}
