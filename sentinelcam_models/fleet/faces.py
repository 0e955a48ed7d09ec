"""Face-file archives: the use cases behind `faces archives` and `faces remove-archive`.

The deploy keeps the curated face files of a replaced or pruned face_recognition version in an
archive directory beside the versions (``YYYY-MM-DD.faces-YYYYmmddTHHMMSSZ``); removing one is the
operator's decision alone, and nothing else ever removes one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core import catalog
from ..core.plan import SENTINEL
from ..core.problems import BadInput, CheckFailed
from ..core.settings import HostSettings
from .remote import service_args
from .session import Session
from .stores import connect

ARCHIVE = re.compile(r"\d{4}-\d{2}-\d{2}\.faces-\d{8}T\d{6}Z")


class Quoted:
    def __init__(self, value: str):
        self.value = value


def _run(host: Any, settings: HostSettings, *parts: object) -> tuple[bool, list[str]]:
    """Run one command as the service user; its stdout lines. Parts are literal words or
    ``Quoted`` values (paths, patterns), quoted with pyinfra's QuoteString."""
    from pyinfra.api import QuoteString, StringCommand  # noqa: PLC0415

    ok, output = host.run_shell_command(
        StringCommand(*[QuoteString(p.value) if isinstance(p, Quoted) else p for p in parts]),
        **service_args(settings, None),
    )
    return ok, [line.line for line in output if line.buffer_name == "stdout"]


@dataclass(frozen=True)
class Archive:
    host: str
    archive: str
    files: tuple[str, ...]

    def to_json(self) -> dict:
        return {"host": self.host, "archive": self.archive, "files": list(self.files)}


def archives(session: Session, hosts: list[str], note: Callable[[str], None]) -> list[Archive]:
    """The face-file archives on sentinels (all, or ``hosts``)."""
    checked = session.checked
    names = hosts or [
        n for n, p in checked.plans.items() if p.placement(catalog.FACE_MODEL, SENTINEL)
    ]
    found_all: list[Archive] = []
    for name, host in connect(session.pyinfra_inventory, names).items():
        placement = checked.plans[name].placement(catalog.FACE_MODEL, SENTINEL)
        if placement is None:
            continue
        # one line per archived file: "<archive directory> <file>"
        ok, lines = _run(
            host,
            checked.settings[name],
            "find",
            Quoted(placement.model_dir),
            "-mindepth 2 -maxdepth 2 -type f -path",
            Quoted("*.faces-*/*"),
            "-printf",
            Quoted("%h %f\\n"),
        )
        if not ok:
            note(f"{name}: cannot list {placement.model_dir} (no face_recognition installed yet?)")
        found: dict[str, list[str]] = {}
        for line in lines:
            directory, _, file = line.partition(" ")
            found.setdefault(directory.rsplit("/", 1)[-1], []).append(file)
        for archive, files in sorted(found.items()):
            if ARCHIVE.fullmatch(archive):
                found_all.append(Archive(name, archive, tuple(sorted(files))))
    return found_all


def remove_archive(
    session: Session, host: str, archive: str, confirm: Callable[[str], None]
) -> None:
    """Remove one archive from ``host``, for good (asked first)."""
    if not ARCHIVE.fullmatch(archive):
        raise BadInput(f"{archive!r} is not an archive name (YYYY-MM-DD.faces-YYYYmmddTHHMMSSZ)")
    checked = session.checked
    placement = (
        checked.plans[host].placement(catalog.FACE_MODEL, SENTINEL)
        if host in checked.plans
        else None
    )
    if placement is None:
        raise BadInput(f"{session.inventory}: {host} is not a sentinel of this inventory")
    confirm(
        f"Remove {placement.model_dir}/{archive} from {host} for good (the curated face files "
        "archived there are not kept anywhere else)?"
    )
    target = connect(session.pyinfra_inventory, [host])[host]
    ok, _ = _run(
        target, checked.settings[host], "rm -rf --", Quoted(f"{placement.model_dir}/{archive}")
    )
    if not ok:
        raise CheckFailed(f"host {host}: cannot remove {archive}")
