"""Loading what a command needs: the validated inventory (warnings printed once), the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..core import names
from ..core.coral import coral_roles, unset_problem
from ..core.validation import CheckedInventory
from ..fleet.inventory import load_checked
from ..fleet.stores import LocalClient, Store, open_store
from ..paths import registry_file_for
from ..store.files import read_registry
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


def store_models(target: Store, checked: CheckedInventory | None, inventory: str) -> list[str]:
    """Every model a whole-store command covers: the registry's (the inventory's, or with --store
    the checkout's registry file, read without loading the inventory) and, for a store on this
    machine, every model directory in it."""
    if checked is not None:
        found = set(checked.registry.models)
    else:
        registry, _, _ = read_registry(registry_file_for(inventory))
        found = set(registry.models) if registry is not None else set()
    if isinstance(target, LocalClient):
        root = Path(target.root)
        if root.is_dir():
            found |= {
                entry.name
                for entry in root.iterdir()
                if names.is_model_name(entry.name) and entry.is_dir() and not entry.is_symlink()
            }
    return sorted(found)
