"""coral fetch: the Coral EdgeTPU runtime files into the store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ...core.problems import BadInput
from ...fleet.stores import open_store
from ...store.actionlog import log_action
from ...store.coral_fetch import fetch_to
from ..options import inventory_option, store_option, warns_coral
from ..progress import transfer, working
from ..render import say
from ..session import load


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
@store_option
@inventory_option
def fetch(source: str | None, no_dev: bool, store: str | None, inventory: str) -> None:
    """Fetch the files coral_packages names into the store's coral_packages/, each checked against the
    registry's sha256 (and the deb's own Version against the registry's); all or nothing.

    Files are downloaded and checked on this machine first, outside any lock; the store then takes
    them in one step. Exit 1 on a mismatch or a failed download (the store unchanged).
    """
    checked, pyinfra_inventory = load(inventory)
    coral = checked.registry.coral
    if coral is None:
        raise BadInput(f"{checked.registry.path}: no coral_packages section")
    target = open_store(checked, store, pyinfra_inventory)
    present = target.call("coral_files") or {}
    with tempfile.TemporaryDirectory(prefix="sentinelcam-coral-") as tmp:
        with transfer("coral fetch", 0):
            result = fetch_to(Path(tmp), coral, source, with_dev=not no_dev, present=present)
        for line in result.problems:
            say(f"note: {line}")
        with working(f"storing the Coral files in {target.where}"):
            stored = target.install_coral(Path(tmp) if result.staged else None, dict(result.files))
    for name in result.skipped:
        say(f"already stored {name} (sha256 matches the registry)")
    for name in stored:
        say(f"stored {name} -> {target.where}/coral_packages/")
    log_action("coral fetch", "ok", store=target.where, stored=stored)
