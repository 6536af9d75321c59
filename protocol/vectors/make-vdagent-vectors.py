#!/usr/bin/env python3
"""Writes vdagent.txt: SPICE agent messages as the host sends them, chunked.

Written from the layout in protocol/vdagent.md alone (struct packing, no clipd code), so the
Swift codec is checked against an independent implementation. Run it again after changing it.
"""
import os
import struct

CLIENT_PORT = 1
SERVER_PORT = 2
MAX_CHUNK = 2048


def wire(msg_type, body, port=CLIENT_PORT):
    message = struct.pack("<IIQI", 1, msg_type, 0, len(body)) + body
    out = b""
    for offset in range(0, len(message), MAX_CHUNK):
        piece = message[offset:offset + MAX_CHUNK]
        out += struct.pack("<II", port, len(piece)) + piece
    return out


def selection(value):
    return bytes([value, 0, 0, 0])


HOST_CAPS = (1 << 5) | (1 << 6) | (1 << 10) | (1 << 16) | (1 << 17)
TEXT = "héllo\r\nwörld".encode()
PATTERN = bytes(i % 251 for i in range(3000))

records = [
    ("host-capabilities", "request = 1, clipd's host set", "prefix serial", wire(6, struct.pack("<II", 1, HOST_CAPS))),
    ("client-disconnected", "no body", "prefix serial", wire(13, b"")),
    ("grab-clipboard", "selection 0, serial 7, types [UTF8_TEXT]", "prefix serial", wire(7, selection(0) + struct.pack("<II", 7, 1))),
    ("grab-primary-images", "selection 1, serial 0, types [PNG, BMP]", "prefix serial", wire(7, selection(1) + struct.pack("<III", 0, 2, 3))),
    ("grab-plain", "a guest without CLIPBOARD_SELECTION and GRAB_SERIAL: types [UTF8_TEXT]", "plain", wire(7, struct.pack("<I", 1))),
    ("request-primary-text", "selection 1, type UTF8_TEXT", "prefix serial", wire(8, selection(1) + struct.pack("<I", 1))),
    ("clipboard-text", "selection 0, type UTF8_TEXT, 'héllo\\r\\nwörld'", "prefix serial", wire(4, selection(0) + struct.pack("<I", 1) + TEXT)),
    ("clipboard-none", "selection 0, type NONE, no data: the reply when there is nothing", "prefix serial", wire(4, selection(0) + struct.pack("<I", 0))),
    ("release-primary", "selection 1", "prefix serial", wire(9, selection(1))),
    ("max-clipboard", "67108864 (64 MiB)", "prefix serial", wire(14, struct.pack("<i", 64 << 20))),
    ("reset-client-disconnected", "the reset, on the server's port: one chunk", "prefix serial", wire(13, b"", SERVER_PORT)),
    ("reset-host-capabilities", "request = 1 after the reset, on the server's port: one chunk", "prefix serial",
     wire(6, struct.pack("<II", 1, HOST_CAPS), SERVER_PORT)),
    ("clipboard-3000", "selection 0, type UTF8_TEXT, bytes i % 251 for i < 3000: two chunks, 2048 and 980 bytes", "prefix serial",
     wire(4, selection(0) + struct.pack("<I", 1) + PATTERN)),
]

lines = [
    "# SPICE agent messages as the host writes them (protocol/vdagent.md): chunk headers",
    "# (port 1, or 2 for the records named reset-*, size), message header (protocol 1, type, opaque 0, size), body; chunks of at most",
    "# 2048 payload bytes. `codec` says what the guest announced: \"prefix serial\" for",
    "# CLIPBOARD_SELECTION and CLIPBOARD_GRAB_SERIAL, \"plain\" for neither.",
    "# Produced independently from the written layout by make-vdagent-vectors.py.",
    "",
]
for name, meaning, codec, data in records:
    lines.append(f"[{name}]")
    lines.append(f"meaning = {meaning}")
    lines.append(f"codec = {codec}")
    text = data.hex()
    lines.append("bytes = " + text[:96])
    for offset in range(96, len(text), 96):
        lines.append("    " + text[offset:offset + 96])
    lines.append("")

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vdagent.txt"), "w") as f:
    f.write("\n".join(lines))
