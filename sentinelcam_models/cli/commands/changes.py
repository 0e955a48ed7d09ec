"""Registry changes: rollback, promote, pin, unpin; and history."""

from __future__ import annotations

import difflib
import json
import shlex
from pathlib import Path

import click

from ...core.changes import Change, NoChange, pin_change, version_change
from ...core.problems import BadInput
from ...core.validation import CheckedInventory
from ...fleet.changes import ChangeOptions, apply
from ...fleet.stores import open_store
from ...paths import host_data_file, registry_file_for
from ...store.files import read_text
from ...store.git import history as git_history
from ..options import HOST, MODEL, VERSION, change_options, confirm, inventory_option, json_option
from ..render import out, row, say, table
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
@change_options
def promote(model: str, version: str, opts: ChangeOptions) -> None:
    """Make a newly published VERSION current (it must verify in the store), commit, and deploy."""
    _version_change("promote", model, version, opts)


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
    shown = table("date", "author", "from", "to", "commit", "message", title=f"{model} history")
    for item in rows:
        row(
            shown,
            item["date"],
            item["author"],
            item["from"] or "-",
            item["to"] or "-",
            item["commit"],
            item["subject"],
        )
    out.print(shown)
