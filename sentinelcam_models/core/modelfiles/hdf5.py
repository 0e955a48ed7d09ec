"""HDF5 files (the face baselines): the signature and a superblock that fits the file."""

from __future__ import annotations

import struct
from typing import BinaryIO

from .fault import Fault, need

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_hdf5(handle: BinaryIO, size: int) -> None:
    base = 0
    while True:  # the superblock is at 0, 512, 1024, 2048, ... (after a user block)
        handle.seek(base)
        if handle.read(8) == _HDF5_SIGNATURE:
            break
        base = 512 if base == 0 else base * 2
        if base + 8 > size:
            handle.seek(0)
            raise Fault(f"no HDF5 signature (starts {handle.read(8)!r})")
    version = need(handle, 1, "the superblock")[0]
    if version in (0, 1):
        head = need(handle, 15 if version == 0 else 19, "the superblock")
        offsets = head[4]
        skip = 0
    elif version in (2, 3):
        head = need(handle, 3, "the superblock")
        offsets = head[0]
        skip = 1  # superblock extension address
    else:
        raise Fault(f"superblock version {version}")
    if offsets not in (2, 4, 8):
        raise Fault(f"size of offsets {offsets}")
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[offsets]
    base_address = struct.unpack(fmt, need(handle, offsets, "the superblock"))[0]
    if version in (0, 1):
        need(handle, offsets, "the superblock")  # free-space info address
    else:
        need(handle, offsets * skip, "the superblock")
    eof = struct.unpack(fmt, need(handle, offsets, "the superblock"))[0]
    if base_address + eof > size:
        raise Fault(
            f"the superblock says {base_address + eof} bytes, the file has {size} (truncated)"
        )
