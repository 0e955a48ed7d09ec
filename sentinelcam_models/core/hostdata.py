"""How one host data key is declared and parsed: a ``Setting`` (key, default, meaning) with a
``Kind`` that turns the raw value into a typed one, reporting problems to the ``_Parser`` of the
host. ``settings.SETTINGS`` declares every key with these."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from . import names

MISSING: Any = object()  # no plain default (the row's ``shown`` says what applies)


@dataclass(frozen=True)
class Setting:
    """One host data key: its default, what it means, and how its raw value is parsed.

    ``SETTINGS`` below is the one declaration: ``DEFAULTS`` (which inventories/group_data/all.py
    and outposts.py restate), the README's settings table (``settings_table``) and the parsing of
    every key with a ``kind`` follow from it; a key without one is parsed by its own code in
    ``parse_host`` (users, host names, pins, ...).
    """

    key: str
    default: Any
    meaning: str
    kind: Kind | None = None
    field: str | None = None  # the HostSettings attribute a ``kind`` fills
    group: str | None = None  # a default for this group only (outposts.py)
    shown: str | None = None  # the README's default column, when not the default itself


class Kind:
    """How a raw value becomes a typed one; problems go to the parser, the default stands in."""

    def parse(self, p: _Parser, key: str) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Choice(Kind):
    values: tuple[str, ...]

    def parse(self, p: _Parser, key: str) -> str:
        return p.choice(key, self.values)


@dataclass(frozen=True)
class Whole(Kind):
    low: int
    high: int
    auto: bool = False  # "auto" is a value too (parsed as None)

    def parse(self, p: _Parser, key: str) -> int | None:
        if self.auto and p.get(key) == "auto":
            return None
        return p.whole(key, self.low, self.high)


@dataclass(frozen=True)
class Fraction(Kind):
    """A number from 0 to 1."""

    def parse(self, p: _Parser, key: str) -> float:
        value = p.get(key)
        if not _is_number(value):
            p.bad(key, f"{value!r} must be a number from 0 to 1")
            value = p.defaults[key]
        return float(value)


@dataclass(frozen=True)
class Fractions(Kind):
    """A mapping of every one of ``keys`` to a number from 0 to 1."""

    keys: tuple[str, ...]

    def parse(self, p: _Parser, key: str) -> Mapping[str, float]:
        value = p.get(key)
        if not isinstance(value, dict) or not all(
            k in value and _is_number(value[k]) for k in self.keys
        ):
            p.bad(key, f"must map {_and(self.keys)} to numbers from 0 to 1")
            value = p.defaults[key]
        return MappingProxyType({k: float(v) for k, v in value.items()})


@dataclass(frozen=True)
class Flag(Kind):
    def parse(self, p: _Parser, key: str) -> bool:
        return _truthy(p.get(key))


@dataclass(frozen=True)
class Command(Kind):
    """A command line starting with an absolute path (empty: none)."""

    def parse(self, p: _Parser, key: str) -> tuple[str, ...]:
        return p.command(key)


@dataclass(frozen=True)
class Name(Kind):
    """A user, group or host name (``what`` names it in the problem); else the default."""

    valid: Callable[[Any], bool]
    what: str

    def parse(self, p: _Parser, key: str) -> str:
        value = p.get(key)
        if not self.valid(value):
            p.bad(key, f"{value!r} is not {self.what}")
            return str(p.defaults[key])
        return str(value)


def _and(items: tuple[str, ...]) -> str:
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def _truthy(value: object) -> bool:
    return value not in (False, "false", "False", "no", "0", 0, None, "")


class _Parser:
    def __init__(self, data: Mapping[str, Any], defaults: Mapping[str, Any]):
        self.data, self.defaults = data, defaults
        self.found: list[tuple[str, str]] = []

    def get(self, key: str) -> Any:
        return self.data[key] if key in self.data else self.defaults.get(key)

    def bad(self, key: str, message: str) -> None:
        self.found.append((key, message))

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.get(key)
        if value not in allowed:
            self.bad(key, f"{value!r} is not one of {', '.join(allowed)}")
            return allowed[0]
        return str(value)

    def whole(self, key: str, low: int, high: int) -> int:
        value = self.get(key)
        if not _is_int(value, low, high):
            self.bad(key, f"{value!r} must be a whole number from {low} to {high}")
            default = self.defaults.get(key)
            return default if isinstance(default, int) and not isinstance(default, bool) else low
        return int(value)

    def command(self, key: str) -> tuple[str, ...]:
        value = self.get(key)
        if value in (None, ""):
            return ()
        try:
            argv = tuple(shlex.split(value)) if isinstance(value, str) else ()
        except ValueError:
            argv = ()
        if not argv or not names.is_safe_path(argv[0]) or not all(a.isprintable() for a in argv):
            self.bad(key, f"{value!r} must be a command line starting with an absolute path")
            return ()
        return argv
