"""TFLite models: the FlatBuffer schema (tensorflow/lite/schema), EdgeTPU or CPU."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

from .fault import Fault

FLATBUFFER_MAX = 512 << 20
EDGETPU_OP = b"edgetpu-custom-op"


class _Flat:
    """Bounds-checked reads of a FlatBuffer (the TFLite schema, tensorflow/lite/schema)."""

    def __init__(self, data: bytes):
        self.data = data

    def _at(self, fmt: str, pos: int) -> int:
        width = struct.calcsize(fmt)
        if pos < 0 or pos + width > len(self.data):
            raise Fault(f"an offset points outside the file (byte {pos}; truncated?)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int) -> Callable[[int], int | None]:
        """field index -> absolute position of the field, or None when absent."""
        vtable = pos - self._at("<i", pos)
        vsize = self._at("<H", vtable)

        def field(index: int) -> int | None:
            slot = 4 + 2 * index
            if slot + 2 > vsize:
                return None
            offset = self._at("<H", vtable + slot)
            return pos + offset if offset else None

        return field

    def ref(self, pos: int) -> int:
        return pos + self._at("<I", pos)

    def vector(self, pos: int, width: int) -> tuple[int, int]:
        """(first element's position, length)."""
        start = self.ref(pos)
        length = self._at("<I", start)
        if start + 4 + length * width > len(self.data):
            raise Fault(f"a vector of {length} at byte {start} runs past the end (truncated?)")
        return start + 4, length

    def string(self, pos: int) -> bytes:
        start, length = self.vector(pos, 1)
        return self.data[start : start + length]


def check_tflite(handle: BinaryIO, size: int, edgetpu: bool) -> None:
    if size < 16:
        raise Fault(f"{size} bytes")
    if size > FLATBUFFER_MAX:
        raise Fault(f"{size} bytes, more than {FLATBUFFER_MAX}")
    data = handle.read(size)
    if data[4:8] != b"TFL3":
        raise Fault(f"no TFL3 FlatBuffer identifier (starts {data[:8]!r})")
    flat = _Flat(data)
    model = flat.table(flat.ref(0))
    codes, subgraphs, buffers = model(1), model(2), model(4)
    if subgraphs is None or flat.vector(subgraphs, 4)[1] == 0:
        raise Fault("no subgraphs")
    start, count = flat.vector(subgraphs, 4)
    for index in range(count):  # tensors (shape, name), inputs, outputs, operators' in/outs
        subgraph = flat.table(flat.ref(start + 4 * index))
        for field, width in ((1, 4), (2, 4)):
            if (pos := subgraph(field)) is not None:
                flat.vector(pos, width)
        for field, parts in ((0, ((0, 4), (3, 1))), (3, ((1, 4), (2, 4)))):
            if (pos := subgraph(field)) is None:
                continue
            items, length = flat.vector(pos, 4)
            for item in range(length):
                entry = flat.table(flat.ref(items + 4 * item))
                for part, width in parts:
                    if (at := entry(part)) is not None:
                        flat.vector(at, width)
    custom: list[bytes] = []
    if codes is not None:
        start, count = flat.vector(codes, 4)
        for index in range(count):
            code = flat.table(flat.ref(start + 4 * index))
            name = code(1)
            if name is not None:
                custom.append(flat.string(name))
    if buffers is not None:
        start, count = flat.vector(buffers, 4)
        for index in range(count):
            buffer = flat.table(flat.ref(start + 4 * index))
            if (data_field := buffer(0)) is not None:
                flat.vector(data_field, 1)
            offset_at, length_at = buffer(1), buffer(2)
            if offset_at is not None and length_at is not None:
                end = flat._at("<Q", offset_at) + flat._at("<Q", length_at)
                if end > size:
                    raise Fault(f"buffer {index} ends at byte {end}, past the end (truncated?)")
    has_edgetpu = EDGETPU_OP in custom
    if edgetpu and not has_edgetpu:
        raise Fault(
            "no edgetpu-custom-op: a CPU model (compile it with edgetpu_compiler for an _edgetpu slot)"
        )
    if not edgetpu and has_edgetpu:
        raise Fault("holds the edgetpu-custom-op: an EdgeTPU model in a CPU slot")


def tflite_interface(data: bytes) -> tuple[list[tuple[tuple[int, ...], int]], int]:
    """A TFLite model's first subgraph as an interpreter shows it: the inputs' (shape, TensorType)
    and the number of outputs (what pycoral's detect adapter looks at)."""
    flat = _Flat(data)
    model = flat.table(flat.ref(0))
    subgraphs = model(2)
    if subgraphs is None:
        raise Fault("no subgraphs")
    start, count = flat.vector(subgraphs, 4)
    if not count:
        raise Fault("no subgraphs")
    subgraph = flat.table(flat.ref(start))
    tensors: list[tuple[tuple[int, ...], int]] = []
    if (pos := subgraph(0)) is not None:
        items, length = flat.vector(pos, 4)
        for item in range(length):
            tensor = flat.table(flat.ref(items + 4 * item))
            shape: tuple[int, ...] = ()
            if (at := tensor(0)) is not None:
                first, dims = flat.vector(at, 4)
                shape = tuple(flat._at("<i", first + 4 * d) for d in range(dims))
            kind = flat._at("<B", at) if (at := tensor(1)) is not None else 0
            tensors.append((shape, kind))

    def indices(field: int) -> list[int]:
        if (pos := subgraph(field)) is None:
            return []
        first, length = flat.vector(pos, 4)
        return [flat._at("<i", first + 4 * i) for i in range(length)]

    inputs = [tensors[i] for i in indices(1) if 0 <= i < len(tensors)]
    return inputs, len(indices(2))
