#!/usr/bin/env python3
"""Writes messages.txt and chunking.txt: session messages of sync protocol 2 and the cut
points of the content-defined chunker.

Written from protocol/sync.md alone (struct packing and hashlib, no clipd code), so the
Swift codecs and chunker are checked against an independent implementation. Run it again
after changing it: python3 protocol/vectors/make-sync-vectors.py
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGIN = bytes(range(0x10, 0x20))
CLOCK = (1700000000000 << 16) | 3


def str8(s):
    b = s.encode()
    return bytes([len(b)]) + b


def item_id(counter):
    return ORIGIN + struct.pack(">Q", counter)


def header(selection, counter, reps):
    out = bytes([selection]) + item_id(counter) + struct.pack(">Q", CLOCK) + bytes([len(reps)])
    for mime, size in reps:
        out += str8(mime) + struct.pack(">Q", size)
    return out


def chunk_hash(n):
    return hashlib.sha256(b"vector chunk %d" % n).digest()


def manifest(reps):
    out = b""
    for chunks in reps:
        out += struct.pack(">I", len(chunks))
        for size, digest in chunks:
            out += struct.pack(">I", size) + digest
    return out


text = b"hello, world"
messages = [
    ("hello", bytes([0x01, 2]) + str8("desk") + struct.pack(">Q", 64 << 20)),
    ("offer-inline", bytes([0x02]) + header(0, 7, [("text/plain;charset=utf-8", len(text))]) + bytes([1]) + text),
    ("offer-manifest", bytes([0x02]) + header(1, 8, [("text/html", 100000), ("text/plain;charset=utf-8", 70000)]) + bytes([2])
     + manifest([[(60000, chunk_hash(0)), (40000, chunk_hash(1))], [(70000, chunk_hash(2))]])),
    ("fetch", bytes([0x03]) + struct.pack(">I", 5) + item_id(8) + bytes([1]) + struct.pack(">QQ", 65536, 131072)),
    ("data", bytes([0x04]) + struct.pack(">IQ", 5, 65536) + bytes([0, 1, 2])),
    ("data-end", bytes([0x05]) + struct.pack(">IQ", 5, 131072)),
    ("fetch-failed", bytes([0x06]) + struct.pack(">I", 5) + bytes([4])),
    ("ack", bytes([0x07]) + item_id(7) + bytes([0])),
    ("cancel", bytes([0x08]) + struct.pack(">I", 5)),
    ("ping", bytes([0x09]) + struct.pack(">Q", 0x0123456789ABCDEF)),
    ("pong", bytes([0x0A]) + struct.pack(">Q", 0x0123456789ABCDEF)),
    ("unknown", bytes([0x7f]) + b"future"),
]

with open(os.path.join(HERE, "messages.txt"), "w") as f:
    f.write("# Session messages of sync protocol 2 (protocol/sync.md), each the plaintext of one record.\n")
    f.write("# origin device id = 101112131415161718191a1b1c1d1e1f, clock = (1700000000000 << 16) | 3;\n")
    f.write("# manifest chunk hashes are SHA-256(\"vector chunk N\"). Written by make-sync-vectors.py.\n")
    for name, body in messages:
        f.write("\n[%s]\nbytes = %s\n" % (name, body.hex()))
    f.write("\n# Handshake frame: magic CLPD, version 1, type 0x2f (pair fail), length 1, reason 1.\n")
    f.write("[frame-pair-fail]\nbytes = 434c5044012f000101\n")

# The chunker (protocol/sync.md, "Chunks").
GEAR = [int.from_bytes(hashlib.sha256(b"clipd gear v1" + bytes([i])).digest()[:8], "big") for i in range(256)]
MASK64 = (1 << 64) - 1


def spread_mask(bits):
    mask = 0
    for k in range(bits):
        mask |= 1 << (63 - (k * 48) // bits)
    return mask


MIN, NORMAL, MAX = 16 << 10, 64 << 10, 256 << 10
STRICT, LOOSE = spread_mask(18), spread_mask(14)


def cut(data, start):
    remaining = len(data) - start
    if remaining <= MIN:
        return remaining
    limit = min(MAX, remaining)
    normal = min(NORMAL, limit)
    h = 0
    i = MIN
    while i < normal:
        h = ((h << 1) + GEAR[data[start + i]]) & MASK64
        if h & STRICT == 0:
            return i + 1
        i += 1
    while i < limit:
        h = ((h << 1) + GEAR[data[start + i]]) & MASK64
        if h & LOOSE == 0:
            return i + 1
        i += 1
    return limit


def vector_input(size):
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"clipd chunk vector" + struct.pack(">I", counter)).digest()
        counter += 1
    return out[:size]


data = vector_input(1536 * 1024)
lengths = []
offset = 0
while offset < len(data):
    n = cut(data, offset)
    lengths.append(n)
    offset += n
hashes = []
offset = 0
for n in lengths:
    hashes.append(hashlib.sha256(data[offset:offset + n]).hexdigest())
    offset += n

with open(os.path.join(HERE, "chunking.txt"), "w") as f:
    f.write("# The content-defined chunker of protocol/sync.md at scale 1. Input: 1536 KiB, the\n")
    f.write("# concatenation of SHA-256(\"clipd chunk vector\" || u32 counter) for counter = 0, 1, ...\n")
    f.write("# Written by make-sync-vectors.py.\n\n[chunker]\n")
    f.write("gear_0 = %016x\ngear_255 = %016x\n" % (GEAR[0], GEAR[255]))
    f.write("strict_mask = %016x\nloose_mask = %016x\n" % (STRICT, LOOSE))
    f.write("input_size = %d\n" % len(data))
    f.write("lengths = %s\n" % ",".join(str(n) for n in lengths))
    f.write("hashes = %s\n" % ",".join(hashes))
