"""Torch7 models (the OpenFace embedder): the serialized object graph, walked to its end."""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from .fault import Fault, need

_T7_ELEMENT = {"Double": 8, "Float": 4, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1}
_T7_ELEMENT["Half"] = 2
_T7_MAX_OBJECTS = 1_000_000


def check_torch7(handle: BinaryIO, size: int) -> None:
    seen: set[int] = set()
    count = [0]

    def i32() -> int:
        return struct.unpack("<i", need(handle, 4, "an integer"))[0]

    def i64() -> int:
        return struct.unpack("<q", need(handle, 8, "a long"))[0]

    def string() -> bytes:
        length = i32()
        if length < 0 or handle.tell() + length > size:
            raise Fault(f"a string of {length} bytes at byte {handle.tell()} runs past the end")
        return handle.read(length)

    def skip(count_bytes: int) -> None:
        if count_bytes < 0 or handle.tell() + count_bytes > size:
            raise Fault(f"data of {count_bytes} bytes at byte {handle.tell()} runs past the end")
        handle.seek(count_bytes, io.SEEK_CUR)

    def obj(depth: int) -> bytes | None:
        count[0] += 1
        if depth > 64 or count[0] > _T7_MAX_OBJECTS:
            raise Fault("nested too deep or too many objects")
        kind = i32()
        if kind == 0:
            return None
        if kind == 1:
            need(handle, 8, "a number")
            return None
        if kind == 2:
            return string()
        if kind == 5:
            i32()
            return None
        if kind in (3, 4):
            index = i32()
            if index in seen:
                return None
            seen.add(index)
            if kind == 3:
                entries = i32()
                if entries < 0:
                    raise Fault(f"a table of {entries} entries")
                for _ in range(2 * entries):
                    obj(depth + 1)
                return None
            version = string()
            cls = string() if version.startswith(b"V ") else version
            name = cls.decode("ascii", "replace")
            if not name.startswith(("nn.", "torch.", "cudnn.")):
                raise Fault(f"an object of class {name!r}")
            plain = name.split(".")[-1]
            if plain.endswith("Storage"):
                width = _T7_ELEMENT.get(plain[: -len("Storage")].replace("Cuda", "") or "Float")
                if width is None:
                    raise Fault(f"unknown storage {name}")
                skip(i64() * width)
            elif plain.endswith("Tensor"):
                dims = i32()
                if not 0 <= dims <= 16:
                    raise Fault(f"a tensor of {dims} dimensions")
                skip(16 * dims + 8)
                obj(depth + 1)
            else:
                obj(depth + 1)
            return None
        raise Fault(
            f"object type {kind} at byte {handle.tell() - 4} (a Lua function or not Torch7)"
        )

    if size < 8:
        raise Fault(f"{size} bytes")
    head = need(handle, 4, "the header")
    if struct.unpack("<i", head)[0] != 4:
        raise Fault(f"does not start with a Torch object (starts {head!r})")
    handle.seek(0)
    obj(0)
    if handle.tell() != size:
        raise Fault(f"{size - handle.tell()} bytes after the object")
