"""The store's answers as typed values: what a use case decides on is a field, never message text.

Each ``from_answer`` reads one agent answer (store/agent.py: local or over SSH) totally: a shape it
does not expect is one CheckFailed line naming the store, never a KeyError further on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core import names
from ..core.problems import CheckFailed, one_line
from ..core.untrusted import short


def _bad(where: str, command: str, what: str) -> CheckFailed:
    return CheckFailed(one_line(f"{where}: the store's {command} answer is malformed ({what})"))


def _strings(value: Any, where: str, command: str, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(where, command, f"{what} is not a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class StoredVersion:
    """One version's state in the store, as a change needs it."""

    model: str
    version: str
    present: bool  # the version directory is there
    digest: str | None  # its manifest's sha256 (None: no readable manifest)
    problems: tuple[str, ...]  # one line each; empty: whole (and verified, when asked)


def check_answer(answer: Any, item: str, where: str) -> tuple[str | None, tuple[str, ...]]:
    """(digest, problems) of ``item`` in a ``check`` answer: both keys are required, the digest is
    a sha256 or None, and None comes with at least one problem (no manifest read is no whole
    version); each problem is one printable line, capped."""
    if not isinstance(answer, Mapping):
        raise _bad(where, "check", "not a mapping")
    entry = answer.get(item)
    if not isinstance(entry, Mapping) or "digest" not in entry or "problems" not in entry:
        raise _bad(where, "check", f"no digest and problems for {short(item, 80)}")
    digest = entry["digest"]
    if digest is not None and not names.is_sha256(digest):
        raise _bad(where, "check", f"{short(item, 80)}: {short(repr(digest), 80)} is not a sha256")
    problems = _strings(entry["problems"], where, "check", "problems")
    if digest is None and not problems:
        raise _bad(where, "check", f"{short(item, 80)}: no digest and no problem")
    return digest, tuple(short(p, 400) for p in problems)


def version_names(answer: Any, where: str) -> set[str]:
    """The version names (``YYYY-MM-DD``) in a ``versions`` answer."""
    if not isinstance(answer, list):
        raise _bad(where, "versions", "not a list")
    found = set()
    for entry in answer:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("version"), str):
            raise _bad(where, "versions", "an entry without a version")
        if not names.is_version(entry["version"]):
            raise _bad(where, "versions", f"{short(repr(entry['version']), 40)} is not a version")
        found.add(entry["version"])
    return found


@dataclass(frozen=True)
class StoreVersion:
    """One version directory in the store, as a ``versions`` answer lists it."""

    version: str
    size: int  # bytes
    has_manifest: bool


def store_versions(answer: Any, where: str) -> list[StoreVersion]:
    """The entries of a ``versions`` answer (their shape is checked where the answer is parsed,
    core/agentanswers.py; this reads them totally all the same)."""
    version_names(answer, where)
    found = []
    for entry in answer:
        size, manifest = entry.get("size"), entry.get("has_manifest")
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or size < 0
            or not isinstance(manifest, bool)
        ):
            raise _bad(where, "versions", f"{entry['version']}: no size or has_manifest")
        found.append(StoreVersion(entry["version"], size, manifest))
    return found


@dataclass(frozen=True)
class Verified:
    model: str
    version: str
    ok: bool
    lines: tuple[str, ...]

    @classmethod
    def from_answer(cls, answer: Any, model: str, version: str, where: str) -> Verified:
        if not isinstance(answer, Mapping) or not isinstance(answer.get("ok"), bool):
            raise _bad(where, "verify", "no ok")
        return cls(
            model, version, answer["ok"], _strings(answer.get("lines"), where, "verify", "lines")
        )

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "ok": self.ok,
            "lines": list(self.lines),
        }


@dataclass(frozen=True)
class Cleaned:
    freed: int
    log: tuple[str, ...]

    @classmethod
    def from_answer(cls, answer: Any, where: str) -> Cleaned:
        freed = answer.get("freed") if isinstance(answer, Mapping) else None
        if isinstance(freed, bool) or not isinstance(freed, int) or freed < 0:
            raise _bad(where, "cleanup", "no freed")
        return cls(answer["freed"], _strings(answer.get("log"), where, "cleanup", "log"))


@dataclass(frozen=True)
class Adopted:
    model: str
    version: str
    status: str  # adopted | would adopt | refused | ...
    detail: str

    @classmethod
    def from_answer(cls, answer: Any, where: str) -> list[Adopted]:
        if not isinstance(answer, list):
            raise _bad(where, "adopt", "not a list")
        items = []
        for entry in answer:
            if not isinstance(entry, Mapping) or not all(
                isinstance(entry.get(k), str) for k in ("model", "version", "status")
            ):
                raise _bad(where, "adopt", "an entry without model, version or status")
            detail = entry.get("detail") or ""
            items.append(cls(entry["model"], entry["version"], entry["status"], str(detail)))
        return items

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "detail": self.detail or None,
        }


@dataclass(frozen=True)
class Published:
    model: str
    version: str
    where: str
    manifest_digest: str

    @classmethod
    def from_answer(cls, answer: Any, model: str, version: str, where: str) -> Published:
        if not isinstance(answer, Mapping) or not isinstance(answer.get("manifest_digest"), str):
            raise _bad(where, "publish", "no manifest_digest")
        return cls(model, version, where, answer["manifest_digest"])


def store_exists(answer: Any, where: str) -> bool:
    """An ``exists`` answer: is the store directory there? Only true or false is an answer."""
    if not isinstance(answer, bool):
        raise _bad(where, "exists", f"{short(repr(answer), 40)} is not true or false")
    return answer


def coral_files(answer: Any, where: str) -> dict[str, str | None]:
    """A ``coral_files`` answer: what ``coral_packages/`` holds, plain file name -> sha256 (64
    lowercase hex digits), None for an entry there that is not a regular file."""
    if not isinstance(answer, Mapping):
        raise _bad(where, "coral_files", "not a mapping of file name to sha256")
    found: dict[str, str | None] = {}
    for name, digest in answer.items():
        if not names.is_plain_file_name(name):
            raise _bad(where, "coral_files", f"{short(repr(name), 60)} is not a file name")
        if digest is not None and not names.is_sha256(digest):
            raise _bad(where, "coral_files", f"{name}: {short(repr(digest), 80)} is not a sha256")
        found[name] = digest
    return found


def coral_installed(answer: Any, where: str) -> tuple[str, ...]:
    """An ``install_coral`` answer: the plain file names it stored in ``coral_packages/``."""
    stored = _strings(answer, where, "install_coral", "the answer")
    bad = next((name for name in stored if not names.is_plain_file_name(name)), None)
    if bad is not None:
        raise _bad(where, "install_coral", f"{short(repr(bad), 60)} is not a file name")
    return stored
