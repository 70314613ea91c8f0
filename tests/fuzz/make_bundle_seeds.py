#!/usr/bin/env python3
"""Writes the seeds of fuzz_bundle (corpus/bundle/) from the GGUF seeds in corpus/gguf/: each a
minimal 64-bit ELF header (no program or section headers: the image is those 64 bytes), then
the bundle layout of src/engine/bundle.h, written here independently of the C writer.

usage: make_bundle_seeds.py CORPUS_DIR"""
import hashlib
import os
import struct
import sys

ALIGN = 65536
STAMP = 64
TRAILER = 192


def elf_header():
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)  # 64-bit, little-endian, version 1
    # type, machine, version, entry, phoff, shoff, flags, ehsize, phentsize, phnum,
    # shentsize, shnum, shstrndx
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)


def bundle(gguf, preset, header_size):
    exe = elf_header()
    gguf_offset = (len(exe) + STAMP + ALIGN - 1) // ALIGN * ALIGN
    preset_offset = gguf_offset + len(gguf)
    size = preset_offset + len(preset) + TRAILER
    stamp = b"HEARTH-BUNDLE\0\0\0" + struct.pack("<IIQ", 1, STAMP, size) + bytes(32)
    weights = hashlib.sha256(gguf).hexdigest().encode()
    fields = struct.pack("<IIQQQQQQ", 1, TRAILER, len(exe), gguf_offset, len(gguf),
                         preset_offset, len(preset), header_size) + weights
    meta = hashlib.sha256(stamp + fields + gguf[:header_size] + preset).hexdigest().encode()
    trailer = fields + meta + bytes(TRAILER - len(fields) - 64 - 8) + b"HEARTHBN"
    body = exe + stamp + bytes(gguf_offset - len(exe) - STAMP) + gguf + preset + trailer
    assert len(body) == size
    return body


def main():
    corpus = sys.argv[1]
    src = os.path.join(corpus, "gguf")
    dst = os.path.join(corpus, "bundle")
    os.makedirs(dst, exist_ok=True)
    preset = b"[m]\ntemperature = 0\n"
    for name in ("alignment_0.gguf", "array_len_huge.gguf", "bad_magic.gguf"):
        with open(os.path.join(src, name), "rb") as f:
            gguf = f.read()
        out = os.path.join(dst, name.replace(".gguf", ".bundle"))
        with open(out, "wb") as f:
            f.write(bundle(gguf, preset, min(len(gguf), 64)))


if __name__ == "__main__":
    main()
