"""Registry changes: rollback, promote, pin, unpin; and history."""

from __future__ import annotations

import json

import click

from ...core.changes import NoChange
from ...core.problems import BadInput
from ...fleet import queries, usecases
from ...fleet.usecases import ChangeOptions
from ..options import (
    HOST,
    MODEL,
    VERSION,
    change_options,
    conflicts,
    hosts_option,
    inventory_option,
    json_option,
    requires,
    ui,
)
from ..render import out, print_history, say
from ..session import session


def _render(result: usecases.ChangeResult, as_json: bool) -> None:
    if isinstance(result, NoChange):
        if as_json:
            click.echo(json.dumps({"schema": usecases.PLAN_SCHEMA, "no_change": result.message}))
        else:
            say(result.message)
    elif isinstance(result, usecases.ChangePlan):
        if as_json:
            click.echo(json.dumps(result.to_json(), indent=2))
            return
        say(f"DRY RUN: {result.change.message}")
        click.echo(result.diff)
        hosts = ", ".join(result.change.hosts) or "none"
        say(
            f"hosts to redeploy: {hosts}"
            if result.deploy
            else f"no redeploy (--no-deploy): {hosts}"
        )


@click.command()
@click.argument("model", type=MODEL)
@click.argument("version", type=VERSION, required=False)
@click.option("--previous", is_flag=True, help="roll back to previous_version")
@change_options
def rollback(
    model: str, version: str | None, previous: bool, opts: ChangeOptions, as_json: bool
) -> None:
    """Make VERSION (or --previous) the current version of MODEL, commit, and redeploy configs."""
    if previous == bool(version):
        raise BadInput("give either VERSION or --previous")
    _render(
        usecases.rollback(session(opts.inventory, opts.store), model, version, opts, ui(opts.yes)),
        as_json,
    )


@click.command()
@click.argument("model", type=MODEL)
@click.argument("version", type=VERSION)
@hosts_option("--canary", "canary", help="stage the rollout: these hosts first")
@click.option(
    "--waves", default="100%", show_default=True, help="then the others in waves (cumulative %)"
)
@click.option(
    "--max-failed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="stop the rollout when a stage has more failed hosts than this",
)
@change_options
@requires("waves", "canary", "waves follow the canary stage")
@requires("max_failed", "canary", "it counts failed hosts of a staged rollout")
@conflicts("no_deploy", "canary", "a staged rollout deploys each stage to judge it")
def promote(
    model: str,
    version: str,
    canary: tuple[str, ...],
    waves: str,
    max_failed: int,
    opts: ChangeOptions,
    as_json: bool,
) -> None:
    """Make a newly published VERSION current (it must verify in the store), commit, and deploy.

    With --canary, the rollout is staged: the canary hosts get VERSION first (pinned), and only if
    every one passes its health gate does the registry move and the other hosts follow, wave by wave;
    a stage with more than --max-failed failed hosts stops it and puts everything back.
    """
    opened = session(opts.inventory, opts.store)
    if not canary:
        _render(usecases.promote(opened, model, version, opts, ui(opts.yes)), as_json)
        return
    result = usecases.promote_staged(
        opened, model, version, list(canary), waves, max_failed, opts, ui(opts.yes)
    )
    if isinstance(result, NoChange):
        _render(result, as_json)
    elif isinstance(result, usecases.RolloutPlan):
        if as_json:
            click.echo(json.dumps(result.to_json(), indent=2))
        else:
            say(f"DRY RUN: staged rollout of {model} {version}: {result.line}")


@click.command()
@click.argument("host", type=HOST)
@click.argument("model", type=MODEL)
@click.argument("version", type=VERSION)
@change_options
def pin(host: str, model: str, version: str, opts: ChangeOptions, as_json: bool) -> None:
    """Pin HOST to VERSION of MODEL (inventories/host_data/HOST.yaml), commit, and redeploy it."""
    opened = session(opts.inventory, opts.store)
    _render(usecases.pin(opened, host, model, version, opts, ui(opts.yes)), as_json)


@click.command()
@click.argument("host", type=HOST)
@click.argument("model", type=MODEL)
@change_options
def unpin(host: str, model: str, opts: ChangeOptions, as_json: bool) -> None:
    """Remove HOST's pin of MODEL (inventories/host_data/HOST.yaml), commit, and redeploy it at
    the registry's current version (or at a pin the inventory sets itself, which it names)."""
    opened = session(opts.inventory, opts.store)
    _render(usecases.unpin(opened, host, model, opts, ui(opts.yes)), as_json)


@click.command()
@click.argument("model", type=MODEL)
@inventory_option
@json_option
def history(model: str, inventory: str, as_json: bool) -> None:
    """MODEL's version changes from git log of the registry file (date, author, from -> to)."""
    rows = [row.to_json() for row in queries.history(session(inventory), model)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_history(out, model, rows)
