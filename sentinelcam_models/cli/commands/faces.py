"""faces: the face-file archives the deploy keeps beside face_recognition versions, and the one
command that removes an archive (nothing else ever does)."""

from __future__ import annotations

import re

import click

from ...core import catalog
from ...core.plan import SENTINEL
from ...core.problems import BadInput, CheckFailed
from ...fleet.remote import service_args
from ...fleet.stores import connect
from ..options import HOST, hosts_option, inventory_option
from ..render import out, row, say, table
from ..session import load

ARCHIVE = re.compile(r"\d{4}-\d{2}-\d{2}\.faces-\d{8}T\d{6}Z")


def _run(host, settings, *parts: object):
    """Run one command as the service user; its stdout lines. Parts are literal words or
    ``Quoted`` values (paths, patterns), quoted with pyinfra's QuoteString."""
    from pyinfra.api import QuoteString, StringCommand  # noqa: PLC0415

    ok, output = host.run_shell_command(
        StringCommand(*[QuoteString(p.value) if isinstance(p, Quoted) else p for p in parts]),
        **service_args(settings, None),
    )
    return ok, [line.line for line in output if line.buffer_name == "stdout"]


class Quoted:
    def __init__(self, value: str):
        self.value = value


@click.group()
def faces() -> None:
    """Archived face files (curated lists kept before a version was replaced or pruned)."""


@faces.command(name="archives")
@hosts_option("--limit", "hosts", help="only these sentinels")
@inventory_option
def archives(hosts: tuple[str, ...], inventory: str) -> None:
    """List the face-file archives on sentinels (all, or HOSTS)."""
    checked, pyinfra_inventory = load(inventory)
    names = list(hosts) or [
        n for n, p in checked.plans.items() if p.placement(catalog.FACE_MODEL, SENTINEL)
    ]
    shown = table("host", "archive", "files")
    for name, host in connect(pyinfra_inventory, names).items():
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
            say(f"{name}: cannot list {placement.model_dir} (no face_recognition installed yet?)")
        found: dict[str, list[str]] = {}
        for line in lines:
            directory, _, file = line.partition(" ")
            found.setdefault(directory.rsplit("/", 1)[-1], []).append(file)
        for archive, files in sorted(found.items()):
            if ARCHIVE.fullmatch(archive):
                row(shown, name, archive, " ".join(sorted(files)))
    out.print(shown)


@faces.command(name="remove-archive")
@click.argument("host", type=HOST)
@click.argument("archive")
@inventory_option
def remove_archive(host: str, archive: str, inventory: str) -> None:
    """Remove one archive (YYYY-MM-DD.faces-YYYYmmddTHHMMSSZ) from HOST, for good."""
    if not ARCHIVE.fullmatch(archive):
        raise BadInput(f"{archive!r} is not an archive name (YYYY-MM-DD.faces-YYYYmmddTHHMMSSZ)")
    checked, pyinfra_inventory = load(inventory)
    placement = (
        checked.plans[host].placement(catalog.FACE_MODEL, SENTINEL)
        if host in checked.plans
        else None
    )
    if placement is None:
        raise BadInput(f"{inventory}: {host} is not a sentinel of this inventory")
    target = connect(pyinfra_inventory, [host])[host]
    ok, _ = _run(
        target, checked.settings[host], "rm -rf --", Quoted(f"{placement.model_dir}/{archive}")
    )
    if not ok:
        raise CheckFailed(f"host {host}: cannot remove {archive}")
    say(f"removed {archive} from {host}")
