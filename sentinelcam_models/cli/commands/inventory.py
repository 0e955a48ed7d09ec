"""validate: the registry and every host's data."""

from __future__ import annotations

import click

from ..options import inventory_option, warns_coral
from ..render import say
from ..session import load


@click.command()
@inventory_option
@warns_coral
def validate(inventory: str) -> None:
    """Check the registry file and every host's data; exit 2 listing every problem."""
    checked, _ = load(inventory)
    say(
        f"ok: {checked.registry.path}: {len(checked.registry.models)} models; {inventory}: "
        f"{len(checked.settings)} hosts"
    )
