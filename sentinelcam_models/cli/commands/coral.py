"""coral fetch: the Coral EdgeTPU runtime files into the store."""

from __future__ import annotations

import click

from ...fleet import usecases
from ..options import inventory_option, store_option, ui, warns_coral, yes_option
from ..progress import transfer, working
from ..render import say
from ..session import session


@click.group()
@warns_coral
def coral() -> None:
    """The Coral EdgeTPU runtime packages in the store."""


@coral.command()
@click.option(
    "--from",
    "source",
    default=None,
    metavar="URL_OR_DIR",
    help="a mirror base URL or a local directory holding the files (default: each download_url)",
)
@click.option("--no-dev", is_flag=True, help="leave out libedgetpu's dev package")
@yes_option
@store_option
@inventory_option
def fetch(source: str | None, no_dev: bool, yes: bool, store: str | None, inventory: str) -> None:
    """Fetch the files coral_packages names into the store's coral_packages/, each checked against the
    registry's sha256 (and the deb's own Version against the registry's); all or nothing.

    Files are downloaded and checked on this machine first, outside any lock; the store then takes
    them in one step. Exit 1 on a mismatch or a failed download (the store unchanged).
    """
    shown = ui(
        yes, work=lambda label: transfer(label, 0) if label == "coral fetch" else working(label)
    )
    result = usecases.coral_fetch(session(inventory, store), source, not no_dev, shown)
    for line in result.notes:
        say(f"note: {line}")
    for name in result.skipped:
        say(f"already stored {name} (sha256 matches the registry)")
    for name in result.stored:
        say(f"stored {name} -> {result.where}/coral_packages/")
