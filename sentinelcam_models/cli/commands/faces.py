"""faces: the face-file archives the deploy keeps beside face_recognition versions, and the one
command that removes an archive (nothing else ever does). The work is in fleet/faces.py."""

from __future__ import annotations

import json

import click

from ...fleet import faces as faces_usecases
from ..options import HOST, confirm, hosts_option, inventory_option, json_option, yes_option
from ..render import out, row, say, table
from ..session import session

SCHEMA = "sentinelcam-models/faces-archives/v1"


@click.group()
def faces() -> None:
    """Archived face files (curated lists kept before a version was replaced or pruned)."""


@faces.command(name="archives")
@hosts_option("--limit", "hosts", help="only these sentinels")
@json_option
@inventory_option
def archives(hosts: tuple[str, ...], as_json: bool, inventory: str) -> None:
    """List the face-file archives on sentinels (all, or HOSTS)."""
    note = (lambda line: click.echo(line, err=True)) if as_json else say
    found = faces_usecases.archives(session(inventory), list(hosts), note)
    if as_json:
        click.echo(
            json.dumps({"schema": SCHEMA, "archives": [a.to_json() for a in found]}, indent=2)
        )
        return
    shown = table("host", "archive", "files")
    for item in found:
        row(shown, item.host, item.archive, " ".join(item.files))
    out.print(shown)


@faces.command(name="remove-archive")
@click.argument("host", type=HOST)
@click.argument("archive")
@yes_option
@inventory_option
def remove_archive(host: str, archive: str, yes: bool, inventory: str) -> None:
    """Remove one archive (YYYY-MM-DD.faces-YYYYmmddTHHMMSSZ) from HOST, for good."""
    faces_usecases.remove_archive(
        session(inventory), host, archive, lambda question: confirm(yes, question)
    )
    say(f"removed {archive} from {host}")
