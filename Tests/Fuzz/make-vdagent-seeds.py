#!/usr/bin/env python3
"""Writes the fuzzer's seeds (Tests/Fuzz/seeds/vdagent): guest-side SPICE agent traffic.

Each seed is one byte that sets how the input is cut into reads (byte + 1 bytes per read),
then what a Linux agent with CLIPBOARD_SELECTION and CLIPBOARD_GRAB_SERIAL sends after its
announcement (protocol/vdagent.md). Run it again after changing it.
"""
import os
import struct


def wire(msg_type, body, chunk=2048, port=1):
    message = struct.pack("<IIQI", 1, msg_type, 0, len(body)) + body
    return b"".join(struct.pack("<II", port, len(message[o:o + chunk])) + message[o:o + chunk] for o in range(0, len(message), chunk))


def sel(value):
    return bytes([value, 0, 0, 0])


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
seeds = {
    "grab-text": b"\x07" + wire(7, sel(0) + struct.pack("<II", 0, 1)) + wire(4, sel(0) + struct.pack("<I", 1) + "hé\r\nllo".encode()),
    "grab-images": b"\x1f" + wire(7, sel(1) + struct.pack("<IIII", 0, 3, 2, 1)) + wire(4, sel(1) + struct.pack("<I", 1) + b"caption")
                   + wire(4, sel(1) + struct.pack("<I", 2) + PNG),
    "request": b"\x00" + wire(8, sel(0) + struct.pack("<I", 1)) + wire(8, sel(1) + struct.pack("<I", 5)),
    "max-and-release": b"\x03" + wire(14, struct.pack("<i", 10)) + wire(9, sel(0)) + wire(9, sel(2)),
    "restart": b"\xff" + wire(6, struct.pack("<II", 1, 0x38de7)) + wire(7, sel(0) + struct.pack("<II", 0, 1)),
    "split-message": b"\x10" + wire(4, sel(0) + struct.pack("<I", 1) + b"x" * 300, chunk=100),
    "server-port": b"\x05" + wire(13, b"", port=2) + wire(16, b"\x00" * 12),
}
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "vdagent")
os.makedirs(here, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
