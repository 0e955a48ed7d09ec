"""The ``sentinelcam-models`` command: parses arguments, calls the core, prints.

Exit codes: 0 ok, 1 a check failed (verify mismatch, drift), 2 bad input or configuration.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import store as store_mod
from .inventory import default_inventory, load_hosts
from .problems import ConfigError, OperatorError
from .validation import CheckedInventory, check_inventory

out = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def checked(inventory: str | Path) -> CheckedInventory:
    """Load and validate the inventory; print every problem and exit 2 if any."""
    hosts, registry_file = load_hosts(inventory)
    result = check_inventory(registry_file, hosts, str(inventory))
    if result.problems:
        for problem in result.problems:
            click.echo(str(problem), err=True)
        sys.exit(2)
    return result


def store_path(store: str | None, inv: CheckedInventory | None) -> Path:
    if store:
        return Path(store)
    for host in inv.hosts if inv else ():
        if host.is_primary_datasink:
            return Path(host.data["sentinelcam_model_registry"])
    for host in inv.hosts if inv else ():
        if "sentinelcam_model_registry" in host.data:
            return Path(host.data["sentinelcam_model_registry"])
    fail("no store path: pass --store PATH")


inventory_option = click.option(
    "-i", "--inventory", "inventory", type=click.Path(dir_okay=False), default=None,
    help="pyinfra inventory file (default: inventories/production.py, or $SENTINELCAM_INVENTORY)",
)
store_option = click.option("--store", type=click.Path(file_okay=False), default=None,
                            help="store root (default: the inventory's sentinelcam_model_registry)")


class Cli(click.Group):
    """Turns operator errors into one line and an exit code instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OperatorError as exc:
            fail(str(exc), exc.exit_code)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(2)


@click.group(cls=Cli)
def main() -> None:
    """Model registry and model deployment for a SentinelCam fleet."""


@main.command()
@inventory_option
def validate(inventory: str | None) -> None:
    """Check the registry file and every host's data; exit 2 listing every problem."""
    inventory = inventory or default_inventory()
    result = checked(inventory)
    out.print(f"ok: {result.registry.path}: {len(result.registry.models)} models; "
              f"{inventory}: {len(result.hosts)} hosts")


@main.command()
@click.argument("model")
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--version", "version", default=None, help="YYYY-MM-DD (default: today)")
@store_option
@inventory_option
def publish(model: str, src_dir: str, version: str | None, store: str | None, inventory: str | None) -> None:
    """Copy SRC_DIR into the store as a new version of MODEL, with its manifest."""
    root = store_path(store, None if store else checked(inventory or default_inventory()))
    target = store_mod.publish(root, model, Path(src_dir), version)
    digest = store_mod.manifest_digest(root, model, target.name)
    out.print(f"published {model}/{target.name} -> {target} (manifest sha256 {digest[:12]})")


@main.command()
@click.argument("model", required=False)
@click.argument("version", required=False)
@store_option
@inventory_option
def verify(model: str | None, version: str | None, store: str | None, inventory: str | None) -> None:
    """Re-hash store versions against their manifests; exit 1 on any mismatch."""
    root = store_path(store, None if store else checked(inventory or default_inventory()))
    models = [model] if model else store_mod.models_in_store(root)
    results = []
    for name in models:
        versions = [version] if version else [v.version for v in store_mod.versions_in_store(root, name)]
        if not versions:
            results.append(store_mod.VerifyResult(name, "-", error="no versions in the store"))
        results += [store_mod.verify_version(root, name, v) for v in versions]
    bad = [r for r in results if not r.ok]
    for result in results:
        for line in result.lines():
            (click.echo(line, err=True) if not result.ok else out.print(line))
    sys.exit(1 if bad else 0)


@main.command(name="list")
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@store_option
@inventory_option
def list_(model: str | None, as_json: bool, store: str | None, inventory: str | None) -> None:
    """Every model with current/previous; or one model's stored versions."""
    inv = checked(inventory or default_inventory())
    registry = inv.registry
    if not model:
        rows = [{"model": m.name, "current_version": m.current_version, "previous_version": m.previous_version}
                for m in registry.models.values()]
        if as_json:
            click.echo(json.dumps({"models": rows}, indent=2))
            return
        table = Table("model", "current", "previous")
        for row in rows:
            table.add_row(row["model"], row["current_version"], row["previous_version"] or "-")
        out.print(table)
        return
    entry = registry.model(model)
    if entry is None:
        fail(f"{registry.path}: unknown model {model!r} (known: {', '.join(registry.models)})")
    root = store_path(store, inv)
    pins: dict[str, list[str]] = {}
    for host in inv.hosts:
        pinned = (host.data.get("model_version_overrides") or {}).get(model)
        if pinned:
            pins.setdefault(pinned, []).append(host.name)
    stored = {v.version: v for v in store_mod.versions_in_store(root, model)}
    rows = []
    for version in sorted(set(stored) | {entry.current_version} | set(pins) | ({entry.previous_version} - {None}), reverse=True):
        marks = []
        if version == entry.current_version:
            marks.append("CURRENT")
        if version == entry.previous_version:
            marks.append("PREVIOUS")
        if version in pins:
            marks.append("PINNED (" + ", ".join(sorted(pins[version])) + ")")
        item = stored.get(version)
        rows.append({"version": version, "marks": marks, "in_store": item is not None,
                     "size": item.size if item else None, "pinned_by": sorted(pins.get(version, []))})
    if as_json:
        click.echo(json.dumps({"model": model, "store": str(root), "versions": rows}, indent=2))
        return
    table = Table("version", "marks", "size", "in store", title=f"{model} in {root}")
    for row in rows:
        size = f"{row['size'] / 1e6:.1f} MB" if row["size"] is not None else "-"
        table.add_row(row["version"], " ".join(row["marks"]), size, "yes" if row["in_store"] else "MISSING")
    out.print(table)


@main.command()
@inventory_option
@click.option("--limit", "limits", multiple=True, help="host name (glob) or group; repeatable")
@click.option("--model", "model_filter", multiple=True, help="only these models; repeatable")
@click.option("--deep", is_flag=True, help="re-hash installed files against their manifests on the nodes")
@click.option("--json", "as_json", is_flag=True, help="print the documented JSON document (see README)")
@click.option("--prometheus", "prometheus", type=click.Path(dir_okay=False), default=None,
              help="also write Prometheus text format here (node_exporter textfile collector)")
def drift(inventory, limits, model_filter, deep, as_json, prometheus) -> None:
    """What runs where: desired vs active vs installed, per host and model.

    Exit 0 all ok; 1 any drift, missing or corrupt; 2 config error or any host unreachable.
    """
    from . import drift as drift_mod
    from .fleetquery import query_fleet, select_hosts
    from .inventory import load_pyinfra_inventory

    inventory = inventory or default_inventory()
    inv = checked(inventory)
    unknown = [m for m in model_filter if m not in inv.registry.models]
    if unknown:
        fail(f"{inv.registry.path}: unknown model {unknown[0]!r} (known: {', '.join(inv.registry.models)})")
    pyinfra_inventory = load_pyinfra_inventory(inventory)
    hosts = [h for h in select_hosts(pyinfra_inventory, limits) if inv.plans[h.name].models]
    if limits and not hosts:
        fail(f"--limit {' '.join(limits)}: no host in {inventory} matches")
    facts = query_fleet(pyinfra_inventory, hosts, inv.plans, deep=deep)
    reports = []
    for host in hosts:
        fact, error = facts.get(host.name, (None, "no answer"))
        report = drift_mod.assess_host(inv.plans[host.name], fact, error, deep)
        if model_filter:
            report.models = [row for row in report.models if row.model in model_filter]
        reports.append(report)
    code = drift_mod.exit_code(reports)
    if prometheus:
        _write_atomically(Path(prometheus), drift_mod.to_prometheus(reports))
    if as_json:
        click.echo(json.dumps(drift_mod.to_document(reports, str(inventory), deep), indent=2))
        sys.exit(code)
    _print_drift(reports, drift_mod)
    sys.exit(code)


STATUS_STYLE = {"ok": "green", "drift": "yellow", "missing": "red", "corrupt": "bold red", "unreachable": "magenta"}


def _print_drift(reports, drift_mod) -> None:
    table = Table("host", "model", "role", "desired", "active", "installed (inactive)", "service", "status")
    for report in reports:
        for row in report.models:
            service = report.services.get(row.role, "-") if report.reachable else "-"
            desired = row.desired + (" (pin)" if row.pinned else "")
            status = f"[{STATUS_STYLE[row.status]}]{row.status}[/]"
            if row.detail and row.status != "ok":
                status += f" ({row.detail})" if row.status != "unreachable" else f" ({report.error})"
            table.add_row(report.host, row.model, row.role, desired, ", ".join(row.active) or "-",
                          ", ".join(row.installed) or "-", service, status)
    out.print(table)
    counts = drift_mod.summary(reports)
    out.print("  ".join(f"{status}: {count}" for status, count in counts.items()))


def _write_atomically(path: Path, text: str) -> None:
    """temp file beside the target + rename: readers never see half a file."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
