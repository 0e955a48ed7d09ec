"""Opening a command's Session (fleet/session.py), with the inventory's warnings printed once."""

from __future__ import annotations

import click

from ..core.coral import coral_roles, unset_problem
from ..core.validation import CheckedInventory
from ..fleet.session import Session
from .options import CORAL_WARNING


def warn(checked: CheckedInventory) -> None:
    for problem in checked.warnings:
        click.echo(f"warning: {problem}", err=True)
    ctx = click.get_current_context(silent=True)
    if ctx is None or not ctx.meta.get(CORAL_WARNING):
        return  # only validate, drift and coral say it (see options.warns_coral)
    coral = checked.registry.coral
    why = unset_problem(coral) if coral else None
    hosts = [name for name, settings in checked.settings.items() if coral_roles(settings)]
    if why and hosts:
        click.echo(
            f"warning: {checked.registry.path}: {why}; until then these Coral hosts are refused: "
            f"{', '.join(hosts)}",
            err=True,
        )


def session(inventory: str, store: str | None = None) -> Session:
    """The command's one Session: inventory loaded (and warned about) on first use, one store."""
    return Session(inventory, store, on_load=warn)
