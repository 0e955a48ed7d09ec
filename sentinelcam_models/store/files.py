"""The operator's files on this machine: the registry and the per-host data files.

Read as bytes and decoded strictly (UTF-8, line endings kept), parsed strictly (duplicate keys,
anchors and aliases refused): every problem is a ``file:line`` value, never an exception.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import names
from ..core.problems import BadInput, Problem
from ..core.registry import Registry, parse_registry
from ..core.settings import HOST_DATA_PROBLEMS
from ..core.yamlstrict import decode, load
from ..paths import host_data_file

PROBLEMS_KEY = HOST_DATA_PROBLEMS  # where an inventory hands a broken host data file to validation


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """The text of ``path`` exactly as stored (CRLF stays CRLF), or the problem reading it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(str(path), "", "not found")]
    except OSError as exc:
        return None, [Problem(str(path), "", f"cannot read: {exc.strerror or exc}")]
    return decode(str(path), raw)


def read_registry(path: Path) -> tuple[Registry | None, list[Problem], str | None]:
    """The registry, every problem, and its text (for edits)."""
    text, problems = read_text(path)
    if text is None:
        return None, problems, None
    registry, problems = parse_registry(str(path), text)
    return registry, problems, text


PINS = "model_version_overrides"
HOST_DATA_KEYS = (PINS,)  # the only keys the tool writes into host data
HOST_SETTINGS_DIR = "host_settings"


class WatchedPins(dict):
    """The ``model_version_overrides`` mapping ``host_data`` hands an inventory: a plain dict that
    notes (``touched``) whether code looked into it or changed it while an inventory load was
    being recorded. Merging host data by reference (``{**defaults, **host_data(...)}``, pyinfra's
    own copies) does not touch it; reading a pin, testing for one or changing the mapping does.
    An untouched mapping found, by identity, in the loaded host's data was merged as read, so
    merging the file's new content instead is what loading the inventory again would do."""

    touched = False


def _watched(name: str) -> Any:
    method = getattr(dict, name)

    def watched(self: WatchedPins, *args: Any, **kwargs: Any) -> Any:
        if _recordings:
            self.touched = True
        return method(self, *args, **kwargs)

    watched.__name__ = name
    return watched


for _name in (
    "__getitem__", "__contains__", "__iter__", "__reversed__", "__len__", "__eq__", "__ne__",
    "__or__", "__ror__", "__ior__", "__setitem__", "__delitem__", "__repr__", "__reduce_ex__",
    "get", "keys", "values", "items", "pop", "popitem", "setdefault", "update", "clear", "copy",
):  # fmt: skip
    setattr(WatchedPins, _name, _watched(_name))


@dataclass(frozen=True)
class Handed:
    """What ``host_data`` handed an inventory: the very dict it returned (the inventory may keep,
    merge or change its values) and a deep copy of it as it was returned."""

    returned: dict[str, Any]
    snapshot: dict[str, Any]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Handed:
        return cls(data, copy.deepcopy(plain(data)))


def plain(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its pins as a plain dict (read without touching them)."""
    return {k: dict(dict.items(v)) if isinstance(v, WatchedPins) else v for k, v in data.items()}


# What host_data handed to inventories while an inventory load was being recorded:
# {(host data file, host): what it returned, or None when it was asked more than once}.
_recordings: list[dict[tuple[str, str], Handed | None]] = []


# Host data files as a command is about to write them ({host_data_file(...): new text, None: removed}):
# ``host_data`` answers from these while a load is being planned, so a pin is checked against the
# inventory as it will be, before anything is written.
_planned: dict[str, str | None] = {}


@contextmanager
def planned_host_data(files: Mapping[Path, str | None]) -> Iterator[None]:
    """Meanwhile, ``host_data`` reads these texts in place of the files (as if they were written)."""
    assert all(Path(path).is_absolute() for path in files), files  # as host_data_file gives them
    saved = dict(_planned)
    _planned.update({str(path): text for path, text in files.items()})
    try:
        yield
    finally:
        _planned.clear()
        _planned.update(saved)


@contextmanager
def recording_host_data() -> Iterator[dict[tuple[str, str], Handed | None]]:
    """Record every host data file ``host_data`` reads (and what it returned) meanwhile: a command
    that writes a pin then knows whether, and how, the loaded inventory merged that file."""
    seen: dict[tuple[str, str], Handed | None] = {}
    _recordings.append(seen)
    try:
        yield seen
    finally:
        _recordings.remove(seen)


def host_data(inventory_file: str | Path, host: str) -> dict[str, Any]:
    """A host's ``host_data/<host>.yaml``, for inventories to merge into its data.

    Host data holds only what the tool writes there (``model_version_overrides``): any other key
    (``ssh_config_file``, ``ssh_strict_host_key_checking``...) is refused, one line per key, so a
    pin file can never change how pyinfra connects. Never raises: a broken file yields
    ``{PROBLEMS_KEY: [[file, line, key, message], ...]}``, which validation reports as the file's
    own lines (so pyinfra and every command stop with the same line).
    """
    if not names.is_host_name(host):
        return {
            PROBLEMS_KEY: [[str(inventory_file), None, "", f"{host!r} is not a valid host name"]]
        }
    path = host_data_file(inventory_file, host)
    planned = str(path)
    data = _host_text(path, _planned[planned]) if planned in _planned else _host_file(path)
    unknown = [key for key in data if key not in HOST_DATA_KEYS and key != PROBLEMS_KEY]
    if unknown:
        message = "not allowed in host data (it holds only model_version_overrides; settings go in the inventory)"
        data = {PROBLEMS_KEY: [[str(path), None, key, message] for key in sorted(unknown)]}
    if isinstance(data.get(PINS), dict):
        data[PINS] = WatchedPins(data[PINS])
    for seen in _recordings:
        key = (str(path), host)
        seen[key] = None if key in seen else Handed.of(data)  # asked twice: not one merge
    return data


def own_host_file(inventory_file: str | Path, host: str) -> Path:
    """``host``'s host data file, for a pin to edit; refused (one line) when it is a link or another
    host's file is the same file: a pin of one host would move the other, unchecked and not
    redeployed (the caller validates ``host`` first)."""
    path = host_data_file(inventory_file, host)
    if path.is_symlink():
        raise BadInput(
            f"{path}: is a symbolic link: a pin edits one host's own file; make it a file"
        )
    real = path.resolve()
    for other in sorted(path.parent.glob("*.yaml")):
        if other != path and other.resolve() == real:
            raise BadInput(
                f"{other}: is a link to {path}: a pin edits one host's own file; make it a file"
            )
    return path


def host_settings(inventory_file: str | Path, host: str) -> dict[str, Any]:
    """The local fleet's per-host settings (``host_settings/<host>.yaml`` beside the demo
    inventory, written by devfleet's tests): read like host data, any settings key."""
    if not names.is_host_name(host):
        return {
            PROBLEMS_KEY: [[str(inventory_file), None, "", f"{host!r} is not a valid host name"]]
        }
    return _host_file(Path(inventory_file).resolve().parent / HOST_SETTINGS_DIR / f"{host}.yaml")


def _host_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    text, problems = read_text(path)
    if text is None:
        return {PROBLEMS_KEY: _carried(problems)}
    return _host_text(path, text)


def _host_text(path: Path, text: str | None) -> dict[str, Any]:
    """A host file's data from its text (None: no file)."""
    if text is None:
        return {}
    doc, problems = load(str(path), text)
    if doc is None or problems:
        return {PROBLEMS_KEY: _carried(problems)}
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict) or not all(isinstance(k, str) for k in doc.data):
        message = "must be a mapping of names to values (e.g. model_version_overrides: {...})"
        return {PROBLEMS_KEY: _carried([Problem(str(path), "", message, line=1)])}
    return dict(doc.data)


def _carried(problems: list[Problem]) -> list[list]:
    """Problems as plain data (host data travels through pyinfra's inventory)."""
    return [[p.file, p.line, p.key, p.message] for p in problems]
