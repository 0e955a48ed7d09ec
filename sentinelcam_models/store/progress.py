"""Progress of long store work, reported to whoever listens: the CLI shows a bar, the store agent
on the datasink listens to nothing. Two kinds: ``copy`` (bytes copied or uploaded into the store)
and ``hash`` (bytes re-hashed: verify, adopt, a publish's final check). Standard library only
(this module runs inside the store agent), and free when nobody listens."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

COPY, HASH = "copy", "hash"
_listeners: list[tuple[str, Callable[[int], None]]] = []


def advance(count: int, kind: str = COPY) -> None:
    """``count`` more bytes of ``kind`` work done."""
    for wanted, listener in _listeners:
        if wanted == kind:
            listener(count)


@contextlib.contextmanager
def listening(listener: Callable[[int], None], kind: str = COPY) -> Iterator[None]:
    """Call ``listener(bytes)`` for every chunk of ``kind`` work in this block."""
    entry = (kind, listener)
    _listeners.append(entry)
    try:
        yield
    finally:
        _listeners.remove(entry)
