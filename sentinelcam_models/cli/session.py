"""Loading what a command needs: the validated inventory (warnings printed once), the store."""

from __future__ import annotations

from typing import Any

import click

from ..core.coral import coral_roles, unset_problem
from ..core.validation import CheckedInventory
from ..fleet.inventory import load_checked
from ..fleet.stores import Store, open_store


def warn(checked: CheckedInventory) -> None:
    for problem in checked.warnings:
        click.echo(f"warning: {problem}", err=True)
    coral = checked.registry.coral
    why = unset_problem(coral) if coral else None
    hosts = [name for name, settings in checked.settings.items() if coral_roles(settings)]
    if why and hosts:
        click.echo(
            f"warning: {checked.registry.path}: {why}; until then these Coral hosts are refused: "
            f"{', '.join(hosts)}",
            err=True,
        )


def load(inventory: str) -> tuple[CheckedInventory, Any]:
    """The validated inventory (Refused lists every problem) and pyinfra's inventory."""
    checked, pyinfra_inventory = load_checked(inventory)
    warn(checked)
    return checked, pyinfra_inventory


def store_for(inventory: str, store: str | None) -> tuple[Store, CheckedInventory | None]:
    """The store a store command acts on (see fleet/stores.py) and, unless --store, the inventory."""
    if store:
        return open_store(None, store), None
    checked, pyinfra_inventory = load(inventory)
    return open_store(checked, None, pyinfra_inventory), checked
