"""The store on the primary datasink: init-store, publish, verify, list, adopt, cleanup."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import click

from ...core import catalog
from ...core.policy import policy_for
from ...core.problems import BadInput, CheckFailed
from ...core.registry import Registry
from ...fleet.inventory import load_checked
from ...fleet.stores import open_store
from ...store.actionlog import log_action
from ..options import MODEL, VERSION, inventory_option, json_option, store_option
from ..progress import steps, transfer, tree_size, working
from ..render import out, row, say, table, text
from ..session import load, store_for, store_models


def required_files(registry: Registry, model: str) -> list[str]:
    entry = registry.model(model)
    return list(catalog.spec(model).required_files(entry.variants if entry else None))


@click.command(name="init-store")
@inventory_option
def init_store(inventory: str) -> None:
    """Create the (empty) store directory on the primary datasink, as its service user."""
    store, _ = store_for(inventory, None)
    say(f"created the store {store.where}" if store.init() else f"{store.where} exists already")


@click.command()
@click.argument("model", type=MODEL)
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--version", "version", type=VERSION, default=None, help="YYYY-MM-DD (default: today)"
)
@store_option
@inventory_option
def publish(
    model: str, src_dir: str, version: str | None, store: str | None, inventory: str
) -> None:
    """Copy SRC_DIR into the store as a new version of MODEL, with its manifest; never overwrites.

    It must hold every file the configs name for MODEL. From a workstation or the trainer, the
    files are uploaded to the primary datasink and checked and renamed there under the store lock.
    """
    checked, _ = load_checked(inventory)
    target, _ = store_for(inventory, store)
    version = version or _dt.date.today().isoformat()
    with transfer(f"publish {model}/{version}", tree_size(Path(src_dir))):
        result = target.publish(
            model, version, Path(src_dir), required_files(checked.registry, model)
        )
    say(
        f"published {model}/{version} -> {target.where} (manifest sha256 {str(result['manifest_digest'])[:12]})"
    )
    log_action("publish", "ok", model=model, version=version, store=target.where)


@click.command()
@click.argument("model", type=MODEL, required=False)
@click.argument("version", type=VERSION, required=False)
@click.option(
    "--deep",
    is_flag=True,
    help="also check each file's format (caffemodel, tflite, pickle, HDF5, ...) as publish does",
)
@store_option
@inventory_option
def verify(
    model: str | None, version: str | None, deep: bool, store: str | None, inventory: str
) -> None:
    """Re-hash store versions against their manifests; exit 1 on any mismatch."""
    target, checked = store_for(inventory, store)
    models = [model] if model else store_models(target, checked, inventory)
    if not models:
        say(f"no versions in the store ({target.where})")
        return
    bad = 0
    work: list[tuple[str, str | None]] = []
    for name in models:
        versions = (
            [version] if version else [v["version"] for v in target.call("versions", model=name)]
        )
        work += [(name, item) for item in versions] or [(name, None)]
    with steps("verify", len(work)) as done:
        for name, item in work:
            if item is None:  # a failure when named; else the store just has none of it
                click.echo(f"{name}: no versions in the store", err=bool(model))
                bad += bool(model)
                continue
            result = target.call("verify", model=name, version=item, deep=deep)
            done(f"{name}/{item}")
            for line in result["lines"]:
                click.echo(line, err=not result["ok"]) if not result["ok"] else say(line)
            bad += not result["ok"]
    if bad:
        raise CheckFailed(f"{bad} version(s) do not verify ({target.where})")


@click.command(name="list")
@click.argument("model", type=MODEL, required=False)
@json_option
@store_option
@inventory_option
def list_(model: str | None, as_json: bool, store: str | None, inventory: str) -> None:
    """Every model with current/previous; or one model's versions: CURRENT, PREVIOUS, PINNED, size."""
    checked, pyinfra_inventory = load(inventory)
    registry = checked.registry
    if not model:
        models = [
            {
                "model": m.name,
                "current_version": m.current_version,
                "previous_version": m.previous_version,
            }
            for m in registry.models.values()
        ]
        if as_json:
            click.echo(json.dumps({"models": models}, indent=2))
            return
        shown = table("model", "current", "previous")
        for item in models:
            row(shown, item["model"], item["current_version"], item["previous_version"] or "-")
        out.print(shown)
        return
    entry = registry.model(model)
    if entry is None:
        raise BadInput(
            f"{registry.path}: unknown model {model!r} (known: {', '.join(registry.models)})"
        )
    target = open_store(checked, store, pyinfra_inventory)
    stored = {v["version"]: v for v in target.call("versions", model=model)}
    pins: dict[str, list[str]] = {}
    for host, settings in checked.settings.items():
        if model in settings.pins:
            pins.setdefault(settings.pins[model], []).append(host)
    rows: list[dict[str, Any]] = []
    for version in sorted(set(stored) | set(entry.versions) | set(pins), reverse=True):
        marks = (
            (["CURRENT"] if version == entry.current_version else [])
            + (["PREVIOUS"] if version == entry.previous_version else [])
            + ([f"PINNED ({', '.join(sorted(pins[version]))})"] if version in pins else [])
        )
        found = stored.get(version)
        rows.append(
            {
                "version": version,
                "marks": marks,
                "in_store": found is not None,
                "size": found["size"] if found else None,
                "pinned_by": sorted(pins.get(version, [])),
            }
        )
    if as_json:
        click.echo(json.dumps({"model": model, "store": target.where, "versions": rows}, indent=2))
        return
    shown = table("version", "marks", "size", "in store", title=f"{model} in {target.where}")
    for line in rows:
        size = f"{line['size'] / 1e6:.1f} MB" if line["size"] is not None else "-"
        row(
            shown,
            line["version"],
            " ".join(line["marks"]),
            size,
            text("yes") if line["in_store"] else text("MISSING", "red"),
        )
    out.print(shown)


@click.command()
@click.option("--dry-run", is_flag=True, help="list what would be adopted; change nothing")
@store_option
@inventory_option
def adopt(dry_run: bool, store: str | None, inventory: str) -> None:
    """Write the manifest of each version directory that has none (a store from the original
    Ansible setup), after checking it holds the files the configs name; exit 1 if any is refused."""
    checked, _ = load(inventory)
    target, _ = store_for(inventory, store)
    models = sorted(checked.registry.models)
    with working(f"adopt: checking and hashing manifest-less versions in {target.where}"):
        results = target.call(
            "adopt",
            required={m: required_files(checked.registry, m) for m in models},
            models=models,
            dry_run=dry_run,
        )
    refused = 0
    for item in results:
        line = f"{item['status']}: {item['model']}/{item['version']}" + (
            f" ({item['detail']})" if item["detail"] else ""
        )
        click.echo(line, err=True) if item["status"] == "refused" else say(line)
        refused += item["status"] == "refused"
    say(
        f"{len(results) - refused} version(s) {'would be ' if dry_run else ''}adopted, {refused} refused"
        if results
        else f"nothing to adopt in {target.where}"
    )
    log_action(
        "adopt",
        "dry-run" if dry_run else "ok",
        store=target.where,
        adopted=[f"{i['model']}/{i['version']}" for i in results if i["status"] != "refused"],
    )
    if refused:
        raise CheckFailed(
            f"{refused} version(s) refused; fix them in the store and run adopt again"
        )


@click.command()
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=None,
    help="newest other versions to keep (default: sentinelcam_model_retention)",
)
@click.option("--dry-run", is_flag=True, help="print what would be removed; change nothing")
@store_option
@inventory_option
def cleanup(keep: int | None, dry_run: bool, store: str | None, inventory: str) -> None:
    """Remove old versions from the store: keeps current, previous, pinned and the N newest others."""
    checked, _ = load(inventory)
    target, _ = store_for(inventory, store)
    policy = policy_for(checked)
    keep = policy["keep"] if keep is None else keep
    with working(f"cleanup of {target.where}"):
        result = target.call("cleanup", policy=policy, keep=keep, dry_run=dry_run)
    for line in result["log"]:
        say(line)
    log_action(
        "cleanup",
        "dry-run" if dry_run else "ok",
        store=target.where,
        keep=keep,
        bytes_freed=result["freed"],
    )
