"""The protobuf wire format of a Caffe model (``.caffemodel``): a NetParameter end to end."""

from __future__ import annotations

from typing import BinaryIO

from .fault import Fault


def _varint(handle: BinaryIO, limit: int) -> int:
    value = shift = 0
    while True:
        if handle.tell() >= limit:
            raise Fault(f"truncated in a varint at byte {handle.tell()}")
        byte = handle.read(1)
        if not byte:
            raise Fault(f"truncated in a varint at byte {handle.tell()}")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise Fault(f"a varint longer than 10 bytes at byte {handle.tell()}")


def _fields(handle: BinaryIO, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """Every field of the message in [start, end): (number, wire type, value start, value end).

    Length-delimited values are skipped, not read; a field running past ``end`` is a fault."""
    handle.seek(start)
    found = []
    while handle.tell() < end:
        at = handle.tell()
        key = _varint(handle, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Fault(f"field number 0 at byte {at}")
        if wire == 0:
            begin = handle.tell()
            _varint(handle, end)
            found.append((number, wire, begin, handle.tell()))
            continue
        if wire == 2:
            length = _varint(handle, end)
            begin = handle.tell()
        elif wire in (1, 5):
            begin, length = handle.tell(), 8 if wire == 1 else 4
        else:
            raise Fault(f"wire type {wire} at byte {at} (not protobuf)")
        if begin + length > end:
            raise Fault(
                f"field {number} at byte {at} runs {begin + length - end} bytes past the end"
            )
        handle.seek(begin + length)
        found.append((number, wire, begin, begin + length))
    return found


def check_caffemodel(handle: BinaryIO, size: int) -> None:
    # NetParameter: name = 1, layers = 2 (V1LayerParameter), layer = 100 (LayerParameter).
    layers = [f for f in _fields(handle, 0, size) if f[0] in (2, 100) and f[1] == 2]
    if not layers:
        raise Fault("no layers")
    blobs = 0
    for number, _, begin, end in layers:
        inner = _fields(handle, begin, end)
        name_field, blob_field = (1, 7) if number == 100 else (4, 6)
        if not any(f[0] == name_field and f[1] == 2 for f in inner):
            raise Fault(f"a layer at byte {begin} has no name")
        blobs += sum(1 for f in inner if f[0] == blob_field and f[1] == 2)
    if not blobs:
        raise Fault(f"{len(layers)} layers but no weights")
