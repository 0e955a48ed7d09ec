"""Registry changes: rollback, promote, pin, unpin; and history."""

from __future__ import annotations

import difflib
import json
import shlex
from pathlib import Path

import click

from ...core import waves as waves_core
from ...core.changes import Change, NoChange, pin_change, version_change
from ...core.problems import BadInput, CheckFailed
from ...core.validation import CheckedInventory
from ...fleet.changes import ChangeOptions, apply
from ...fleet.rollouts import Runner, read_states
from ...fleet.stores import open_store
from ...paths import host_data_file, registry_file_for
from ...store.files import read_text
from ...store.git import history as git_history
from ..options import (
    HOST,
    MODEL,
    VERSION,
    change_options,
    confirm,
    conflicts,
    hosts_option,
    inventory_option,
    json_option,
    requires,
)
from ..render import out, print_history, say
from ..session import load

STORE_REASONS = {
    "missing": "is not in the store",
    "problems": "does not verify against its MANIFEST.sha256",
}


def _check_store(
    checked: CheckedInventory, opts: ChangeOptions, pyinfra_inventory, change: Change
) -> None:
    """Every version the change names must be in the store (promote: and verify there, re-hashed)."""
    if not change.store_versions:
        return
    store = open_store(checked, opts.store, pyinfra_inventory)
    for version in change.store_versions:
        item = f"{change.model}/{version}"
        answer = store.call("check", wanted=[item], required={}).get(item, {})
        problems = list(answer.get("problems", []))
        if not problems and change.deep_store_check:
            result = store.call("verify", model=change.model, version=version)
            problems = [] if result["ok"] else list(result["lines"])
        if not answer.get("digest") and any("not in the store" in p for p in problems):
            raise BadInput(f"{change.model} {version} is not in the store ({store.where})")
        if problems:
            raise BadInput(
                f"{change.model} {version} does not verify in the store ({store.where}): "
                + "; ".join(problems)
            )


def _run(
    result: Change | NoChange, checked: CheckedInventory, opts: ChangeOptions, pyinfra_inventory
) -> None:
    if isinstance(result, NoChange):
        say(result.message)
        return
    _check_store(checked, opts, pyinfra_inventory, result)
    if opts.dry_run:
        say(f"DRY RUN: {result.message}")
        click.echo(
            "".join(
                difflib.unified_diff(
                    (result.old_text or "").splitlines(True),
                    (result.new_text or "").splitlines(True),
                    result.file,
                    result.file,
                )
            )
        )
        say(f"hosts to redeploy: {', '.join(result.hosts) or 'none'}")
        return
    confirm(opts.yes, f"{result.message} and redeploy {len(result.hosts)} hosts?")
    apply(result, opts, say, shlex.join)


def _version_change(action: str, model: str, version: str | None, opts: ChangeOptions) -> None:
    checked, pyinfra_inventory = load(opts.inventory)
    text, problems = read_text(Path(checked.registry.path))
    if text is None:
        raise BadInput("; ".join(str(p) for p in problems))
    _run(
        version_change(checked, text, action, model, version, opts.inventory),
        checked,
        opts,
        pyinfra_inventory,
    )


@click.command()
@click.argument("model", type=MODEL)
@click.argument("version", type=VERSION, required=False)
@click.option("--previous", is_flag=True, help="roll back to previous_version")
@change_options
def rollback(model: str, version: str | None, previous: bool, opts: ChangeOptions) -> None:
    """Make VERSION (or --previous) the current version of MODEL, commit, and redeploy configs."""
    if previous == bool(version):
        raise BadInput("give either VERSION or --previous")
    _version_change("rollback", model, version, opts)


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
) -> None:
    """Make a newly published VERSION current (it must verify in the store), commit, and deploy.

    With --canary, the rollout is staged: the canary hosts get VERSION first (pinned), and only if
    every one passes its health gate does the registry move and the other hosts follow, wave by wave;
    a stage with more than --max-failed failed hosts stops it and puts everything back.
    """
    if not canary:
        _version_change("promote", model, version, opts)
        return
    checked, pyinfra_inventory = load(opts.inventory)
    text, problems = read_text(Path(checked.registry.path))
    if text is None:
        raise BadInput("; ".join(str(p) for p in problems))
    change = version_change(checked, text, "promote", model, version, opts.inventory)
    if isinstance(change, NoChange):
        say(change.message)
        return
    running = read_states(checked).get(model)
    if running is not None and running.active:
        raise BadInput(
            f"a rollout of {model} {running.version} is {running.stage}: resume or undo it first "
            f"(sentinelcam-models rollout resume|undo {model})"
        )
    _check_store(checked, opts, pyinfra_inventory, change)
    entry = checked.registry.models[model]
    rollout = waves_core.plan(
        model,
        version,
        entry.current_version,
        entry.previous_version,
        checked.users_of(model, unpinned_only=True),
        list(canary),
        waves,
        max_failed,
    )
    plan_line = "; ".join(
        [f"canary {', '.join(rollout.canary)}"]
        + [f"wave {i}: {', '.join(w)}" for i, w in enumerate(rollout.waves, 1)]
    )
    if opts.dry_run:
        say(f"DRY RUN: staged rollout of {model} {version}: {plan_line}")
        return
    confirm(opts.yes, f"Roll {model} out to {version} ({plan_line})?")
    say(
        f"To resume after an interruption: sentinelcam-models rollout resume {model} -i {opts.inventory}"
    )
    say(f"To undo: sentinelcam-models rollout undo {model} -i {opts.inventory}")
    code = Runner(opts.inventory, rollout, say, opts.no_commit).run()
    if code:
        raise CheckFailed(
            f"the rollout of {model} {version} stopped: the registry stays at "
            f"{rollout.old_current}; see the lines above"
        )


def _pin_change(host: str, model: str, version: str | None, opts: ChangeOptions) -> None:
    checked, pyinfra_inventory = load(opts.inventory)
    path = host_data_file(opts.inventory, host)
    text = None
    if path.exists():
        text, problems = read_text(path)
        if text is None:
            raise BadInput("; ".join(str(p) for p in problems))
    _run(
        pin_change(checked, host, model, version, str(path), text, opts.inventory),
        checked,
        opts,
        pyinfra_inventory,
    )


@click.command()
@click.argument("host", type=HOST)
@click.argument("model", type=MODEL)
@click.argument("version", type=VERSION)
@change_options
def pin(host: str, model: str, version: str, opts: ChangeOptions) -> None:
    """Pin HOST to VERSION of MODEL (inventories/host_data/HOST.yaml), commit, and redeploy it."""
    _pin_change(host, model, version, opts)


@click.command()
@click.argument("host", type=HOST)
@click.argument("model", type=MODEL)
@change_options
def unpin(host: str, model: str, opts: ChangeOptions) -> None:
    """Remove HOST's pin of MODEL, commit, and redeploy it at the registry's current version."""
    _pin_change(host, model, None, opts)


@click.command()
@click.argument("model", type=MODEL)
@inventory_option
@json_option
def history(model: str, inventory: str, as_json: bool) -> None:
    """MODEL's version changes from git log of the registry file (date, author, from -> to)."""
    rows = git_history(registry_file_for(inventory), model)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    print_history(out, model, rows)
