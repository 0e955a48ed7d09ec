"""Shell completion of model, version and host names (click's completion; the README says how to
enable it). Names come from the checkout's files: models and versions from the registry, read
without loading the inventory; hosts from the pyinfra inventory. Completion never fails: a file
that cannot be read completes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from ..paths import default_inventory, registry_file_for
from ..store.files import read_registry


def _inventory(ctx: click.Context) -> Path | None:
    """The inventory the command line names so far (-i), else the default one."""
    current: click.Context | None = ctx
    while current is not None:
        given = current.params.get("inventory")
        if given:
            return Path(given)
        current = current.parent
    try:
        root = ctx.find_root()
        if root.params.get("repo"):
            from ..paths import choose_checkout  # noqa: PLC0415

            choose_checkout(root.params["repo"])
        return default_inventory()
    except Exception:
        return None


def _registry(ctx: click.Context) -> Any:
    inventory = _inventory(ctx)
    if inventory is None:
        return None
    registry, _, _ = read_registry(registry_file_for(inventory))
    return registry


def model_names(ctx: click.Context) -> list[str]:
    registry = _registry(ctx)
    return sorted(registry.models) if registry is not None else []


def versions(ctx: click.Context) -> list[str]:
    """The versions the registry names for the MODEL given so far (every model's without one)."""
    registry = _registry(ctx)
    if registry is None:
        return []
    model = ctx.params.get("model")
    entries = [registry.models[model]] if model in registry.models else registry.models.values()
    return sorted({v for entry in entries for v in entry.versions}, reverse=True)


def host_names(ctx: click.Context) -> list[str]:
    inventory = _inventory(ctx)
    if inventory is None:
        return []
    try:
        from ..fleet.inventory import load_pyinfra_inventory  # noqa: PLC0415 - pyinfra is slow

        return sorted(host.name for host in load_pyinfra_inventory(inventory))
    except Exception:
        return []


def items(candidates: list[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(name) for name in candidates if name.startswith(incomplete)]
