#!/usr/bin/python3
"""Real GTK 3 clipboard clients for clipd's tests (python3-gi: GTK's own clipboard code).

  clipboard.py own TEXT        own CLIPBOARD with TEXT through Gtk.Clipboard.set_text
  clipboard.py own-on-key TEXT the same from a window, on its first key press: on Wayland a
                               client may only set the selection with the serial of an input
                               event (a test types the key with wtype)
  clipboard.py manager DELAY   a history-restoring clipboard manager, as clipit and parcellite
                               are: on each owner change (handled DELAY seconds late, as a busy
                               manager does) it reads the text; when neither text nor targets
                               come back it "restores" the newest text of its history
  clipboard.py repost DELAY    a manager that re-posts the previous entry of its history DELAY
                               seconds after the first change it sees from another owner

Each prints "ready" once it runs, and one line per thing it does. It runs until killed.
"""
import sys
import time

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, GLib, Gtk  # noqa: E402


def say(*words):
    print(*words, flush=True)


def own(text):
    clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)
    clipboard.set_text(text, -1)
    say("ready")


def own_on_key(text):
    window = Gtk.Window()
    window.add(Gtk.Entry())
    state = {"ready": False, "owned": False}

    def mapped(*_):
        # The seat has no keyboard until the test's virtual one appears: the window gets
        # keyboard focus with it, then the key press.
        if not state["ready"]:
            state["ready"] = True
            say("ready")

    def pressed(*_):
        if not state["owned"]:
            state["owned"] = True
            Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD).set_text(text, -1)
            say("owned")

    window.connect("map-event", mapped)
    window.connect("key-press-event", pressed)
    window.show_all()


def manager(delay):
    clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)
    history = []

    def changed(board, _event):
        # Handled late, inside the owner-change event: GTK stamps the requests below with
        # that event's time, as clipit's handler does.
        time.sleep(delay)
        text = board.wait_for_text()
        if text is None:
            has_targets, _ = board.wait_for_targets()
            if not has_targets and history:
                say("restoring", history[-1])
                board.set_text(history[-1], -1)
            return
        if not history or history[-1] != text:
            history.append(text)
            say("seen", text)

    clipboard.connect("owner-change", changed)
    say("ready")


def repost(delay):
    clipboard = Gtk.Clipboard.get(Gdk.SELECTION_CLIPBOARD)
    history = []
    state = {"reposted": False}

    def put_back():
        say("restoring", history[-2])
        clipboard.set_text(history[-2], -1)
        return False

    def changed(board, _event):
        text = board.wait_for_text()
        if text is None or (history and history[-1] == text):
            return
        history.append(text)
        say("seen", text)
        if len(history) >= 3 and not state["reposted"]:
            state["reposted"] = True
            GLib.timeout_add(int(delay * 1000), put_back)

    clipboard.connect("owner-change", changed)
    say("ready")


def main():
    mode = sys.argv[1]
    if mode == "own":
        own(sys.argv[2])
    elif mode == "own-on-key":
        own_on_key(sys.argv[2])
    elif mode == "manager":
        manager(float(sys.argv[2]))
    elif mode == "repost":
        repost(float(sys.argv[2]))
    else:
        sys.exit(f"unknown mode {mode}")
    Gtk.main()


if __name__ == "__main__":
    main()
