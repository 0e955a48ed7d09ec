"""Text and JSON from a node, a store agent or a file nobody vouches for: parsed with caps, printed
escaped.

Whatever one host answers can only fail that host: ``loads`` refuses a document that is too large,
nested too deeply, has a duplicate key or a non-finite number, with one ``Untrusted`` line (never a
``RecursionError``); ``short`` turns any text into one printable line of bounded length (escape
sequences and newlines shown, not obeyed).
"""

from __future__ import annotations

import json
from typing import Any

from .problems import one_line

DOCUMENT_CAP = 4 << 20  # characters
DEPTH_CAP = 16


class Untrusted(ValueError):
    """A document from outside refused: one line saying why."""


def _depth(text: str, cap: int) -> None:
    """Refuse nesting deeper than ``cap`` before the recursive parser sees it (linear scan)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > cap:
                raise Untrusted(f"nested deeper than {cap} levels")
        elif char in "]}":
            depth -= 1


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise Untrusted(f"duplicate key {short(key, 40)}")
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise Untrusted(f"{name} is not a number")


def loads(text: str | bytes, cap: int = DOCUMENT_CAP, depth: int = DEPTH_CAP) -> Any:
    """The JSON value in ``text``, or ``Untrusted`` with one line."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise Untrusted("not UTF-8 text") from None
    if len(text) > cap:
        raise Untrusted(f"larger than {cap} characters")
    _depth(text, depth)
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except Untrusted:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise Untrusted(f"not a JSON document ({short(exc, 80)})") from None


def short(text: object, limit: int = 200) -> str:
    """``text`` as one printable line (``problems.one_line``), cut at ``limit`` characters."""
    value = str(text)
    cut = value if len(value) <= limit else value[:limit] + "..."
    return one_line(cut)


def expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` when it is of ``kind`` (bool is not an int), else ``Untrusted`` naming ``what``."""
    if isinstance(value, bool) and kind in (int, (int,)):
        raise Untrusted(f"{what} is not {getattr(kind, '__name__', kind)}")
    if not isinstance(value, kind):
        name = getattr(kind, "__name__", None) or "/".join(k.__name__ for k in kind)  # type: ignore[union-attr]
        raise Untrusted(f"{what} is not {name}")
    return value


def keys(value: Any, required: set[str], what: str, optional: set[str] = frozenset()) -> dict:  # type: ignore[assignment]
    """``value`` as a dict with exactly the ``required`` keys (plus any of ``optional``)."""
    expect(value, dict, what)
    missing = sorted(required - set(value))
    extra = sorted(set(value) - required - optional)
    if missing:
        raise Untrusted(f"{what} has no {', '.join(missing)}")
    if extra:
        raise Untrusted(f"{what} has unexpected key {short(extra[0], 40)}")
    return value


def as_text(data: bytes) -> str:
    """File bytes as text that encodes back to exactly these bytes (``as_bytes``), whatever their
    encoding: bytes that are not UTF-8 are kept as surrogates."""
    return data.decode("utf-8", "surrogateescape")


def as_bytes(text: str) -> bytes:
    """The exact bytes of a text made by ``as_text`` (or of any ordinary text)."""
    return text.encode("utf-8", "surrogateescape")
