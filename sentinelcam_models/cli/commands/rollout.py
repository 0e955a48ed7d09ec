"""rollout: staged rollouts in progress (status, resume, undo)."""

from __future__ import annotations

import json

import click

from ...core.problems import CheckFailed
from ...fleet import queries, rollouts, usecases
from ..options import MODEL, inventory_option, json_option, ui, yes_option
from ..render import out, row, table
from ..session import session


@click.group()
def rollout() -> None:
    """Staged rollouts (promote --canary/--waves): status, resume, undo."""


@rollout.command()
@click.argument("model", type=MODEL, required=False)
@inventory_option
@json_option
def status(model: str | None, inventory: str, as_json: bool) -> None:
    """Every recorded rollout (or MODEL's): stage, hosts passed, failed (why) and pending."""
    states = queries.rollout_status(session(inventory), model)
    if as_json:
        click.echo(json.dumps({m: rollouts.describe(r) for m, r in states.items()}, indent=2))
        return
    shown = table("model", "version", "stage", "passed", "failed", "pending")
    for name, item in states.items():
        row(
            shown,
            name,
            item.version,
            item.stage,
            ", ".join(item.passed) or "-",
            "; ".join(f"{h}: {why}" for h, why in item.failed.items()) or "-",
            ", ".join(item.pending()) or "-",
        )
    out.print(shown)


@rollout.command()
@click.argument("model", type=MODEL)
@click.option("--no-commit", is_flag=True, help="do not commit the steps to git")
@yes_option
@inventory_option
def resume(model: str, no_commit: bool, yes: bool, inventory: str) -> None:
    """Continue an interrupted rollout at its recorded stage; a stopped one starts again at its canaries."""
    if usecases.rollout_resume(session(inventory), model, no_commit, ui(yes)):
        raise CheckFailed(f"the rollout of {model} stopped again; see the lines above")


@rollout.command()
@click.argument("model", type=MODEL)
@click.option("--no-commit", is_flag=True, help="do not commit the steps to git")
@yes_option
@inventory_option
def undo(model: str, no_commit: bool, yes: bool, inventory: str) -> None:
    """Put everything back: registry at the old version, temporary pins gone, hosts deployed back."""
    usecases.rollout_undo(session(inventory), model, no_commit, ui(yes))
