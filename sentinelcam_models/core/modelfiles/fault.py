"""What a format check raises, and the one read every binary check shares."""

from __future__ import annotations

from typing import BinaryIO


class Fault(Exception):
    """What is wrong with a file, as one short phrase."""


def need(handle: BinaryIO, count: int, what: str) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise Fault(f"truncated in {what} (file ends at byte {handle.tell()})")
    return data
