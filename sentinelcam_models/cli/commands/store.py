"""The store on the primary datasink: init-store, publish, verify, list, adopt, cleanup."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from ...core.problems import CheckFailed
from ...fleet import queries, usecases
from ..options import (
    MODEL,
    VERSION,
    inventory_option,
    json_option,
    store_option,
    ui,
    yes_option,
)
from ..progress import transfer, tree_size
from ..render import out, row, say, table, text
from ..session import session

SCHEMA = "sentinelcam-models"  # JSON documents: "sentinelcam-models/<command>/1"


@click.command(name="init-store")
@yes_option
@inventory_option
def init_store(yes: bool, inventory: str) -> None:
    """Create the (empty) store directory on the primary datasink, as its service user."""
    where, created = usecases.init_store(session(inventory), ui(yes))
    say(f"created the store {where}" if created else f"{where} exists already")


@click.command()
@click.argument("model", type=MODEL)
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--version", "version", type=VERSION, default=None, help="YYYY-MM-DD (default: today)"
)
@yes_option
@json_option
@store_option
@inventory_option
def publish(
    model: str,
    src_dir: str,
    version: str | None,
    yes: bool,
    as_json: bool,
    store: str | None,
    inventory: str,
) -> None:
    """Copy SRC_DIR into the store as a new version of MODEL, with its manifest; never overwrites.

    It must hold every file the configs name for MODEL. From a workstation or the trainer, the
    files are uploaded to the primary datasink and checked and renamed there under the store lock.
    """
    version = version or _dt.date.today().isoformat()
    size = tree_size(Path(src_dir))
    shown = ui(yes, work=lambda label: transfer(label, size))  # bytes and rate
    result = usecases.publish(session(inventory, store), model, Path(src_dir), version, shown)
    if as_json:
        click.echo(json.dumps({"schema": f"{SCHEMA}/publish/v1", **asdict(result)}, indent=2))
        return
    say(
        f"published {model}/{version} -> {result.where} (manifest sha256 {result.manifest_digest[:12]})"
    )


@click.command()
@click.argument("model", type=MODEL, required=False)
@click.argument("version", type=VERSION, required=False)
@click.option(
    "--deep",
    is_flag=True,
    help="also check each file's format (caffemodel, tflite, pickle, HDF5, ...) as publish does",
)
@json_option
@store_option
@inventory_option
def verify(
    model: str | None,
    version: str | None,
    deep: bool,
    as_json: bool,
    store: str | None,
    inventory: str,
) -> None:
    """Re-hash store versions against their manifests; exit 1 on any mismatch."""
    report = usecases.verify(session(inventory, store), model, version, ui(False), deep=deep)
    if as_json:
        document = {
            "schema": f"{SCHEMA}/verify/v1",
            "store": report.where,
            "versions": [r.to_json() for r in report.results],
            "models_without_versions": report.empty,
            "ok": not report.bad,
            "exit_code": 1 if report.bad else 0,
        }
        click.echo(json.dumps(document, indent=2))
        if report.bad:
            sys.exit(1)
        return
    if not report.results and not report.empty:
        say(f"no versions in the store ({report.where})")
        return
    for name in report.empty:  # a failure when named; else the store just has none of it
        click.echo(f"{name}: no versions in the store", err=report.named)
    for result in report.results:
        for line in result.lines:
            say(line) if result.ok else click.echo(line, err=True)
    if report.bad:
        raise CheckFailed(f"{report.bad} version(s) do not verify ({report.where})")


@click.command(name="list")
@click.argument("model", type=MODEL, required=False)
@json_option
@store_option
@inventory_option
def list_(model: str | None, as_json: bool, store: str | None, inventory: str) -> None:
    """Every model with current/previous; or one model's versions: CURRENT, PREVIOUS, PINNED, size."""
    opened = session(inventory, store)
    if not model:
        models = queries.list_models(opened)
        if as_json:
            click.echo(json.dumps({"models": [m.to_json() for m in models]}, indent=2))
            return
        shown = table("model", "current", "previous")
        for item in models:
            row(shown, item.model, item.current_version, item.previous_version or "-")
        out.print(shown)
        return
    listing = queries.list_versions(opened, model)
    if as_json:
        click.echo(json.dumps(listing.to_json(), indent=2))
        return
    shown = table("version", "marks", "size", "in store", title=f"{model} in {listing.where}")
    for line in listing.lines:
        size = f"{line.stored.size / 1e6:.1f} MB" if line.stored else "-"
        row(
            shown,
            line.version,
            " ".join(line.marks),
            size,
            text("yes") if line.stored else text("MISSING", "red"),
        )
    out.print(shown)


@click.command()
@click.option("--dry-run", is_flag=True, help="list what would be adopted; change nothing")
@yes_option
@json_option
@store_option
@inventory_option
def adopt(dry_run: bool, yes: bool, as_json: bool, store: str | None, inventory: str) -> None:
    """Write the manifest of each version directory that has none (a store from the original
    Ansible setup), after checking it holds the files the configs name; exit 1 if any is refused."""
    where, results, dry = usecases.adopt(session(inventory, store), dry_run, ui(yes))
    refused = sum(item.refused for item in results)
    if as_json:
        document = {
            "schema": f"{SCHEMA}/adopt/v1",
            "store": where,
            "dry_run": dry,
            "versions": [item.to_json() for item in results],
            "refused": refused,
            "exit_code": 1 if refused else 0,
        }
        click.echo(json.dumps(document, indent=2))
        if refused:
            sys.exit(1)
        return
    for item in results:
        line = f"{item.status}: {item.model}/{item.version}" + (
            f" ({item.detail})" if item.detail else ""
        )
        click.echo(line, err=True) if item.refused else say(line)
    say(
        f"{len(results) - refused} version(s) {'would be ' if dry else ''}adopted, {refused} refused"
        if results
        else f"nothing to adopt in {where}"
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
@yes_option
@json_option
@store_option
@inventory_option
def cleanup(
    keep: int | None, dry_run: bool, yes: bool, as_json: bool, store: str | None, inventory: str
) -> None:
    """Remove old versions from the store: keeps current, previous, pinned and the N newest others."""
    where, kept, result, dry = usecases.cleanup(session(inventory, store), keep, dry_run, ui(yes))
    if as_json:
        document = {
            "schema": f"{SCHEMA}/cleanup/v1",
            "store": where,
            "keep": kept,
            "dry_run": dry,
            "bytes_freed": result.freed,
            "log": list(result.log),
        }
        click.echo(json.dumps(document, indent=2))
        return
    for line in result.log:
        say(line)
