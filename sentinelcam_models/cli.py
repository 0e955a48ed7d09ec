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

# Wide enough for the drift table when piped (cron, CI logs); a terminal keeps its own width.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)


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
        except OSError as exc:  # a path the operator gave that cannot be read or written
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}", 2)


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
    if not root.is_dir():
        fail(f"{root}: store not found")
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
    from . import coral as coral_mod
    coral_packages = dict(inv.registry.coral_packages)
    coral_roles = {h.name: coral_mod.coral_roles(tuple(h.groups), h.data.dict()) for h in hosts}
    coral_args = {name: coral_mod.fact_arguments(coral_packages, roles)
                  for name, roles in coral_roles.items() if roles and not model_filter}
    facts = query_fleet(pyinfra_inventory, hosts, inv.plans, deep=deep, coral_args=coral_args)
    reports = []
    for host in hosts:
        fact, error = facts.get(host.name, (None, "no answer"))
        report = drift_mod.assess_host(inv.plans[host.name], fact, error, deep)
        if model_filter:
            report.models = [row for row in report.models if row.model in model_filter]
        elif host.name in coral_args:
            report.coral = coral_mod.assess(coral_packages, coral_roles[host.name], (fact or {}).get("coral"), fact is not None)
        reports.append(report)
    code = drift_mod.exit_code(reports)
    if prometheus:
        from .edit import write_atomically

        Path(prometheus).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(Path(prometheus), drift_mod.to_prometheus(reports))
    if as_json:
        click.echo(json.dumps(drift_mod.to_document(reports, str(inventory), deep), indent=2))
        sys.exit(code)
    _print_drift(reports, drift_mod)
    sys.exit(code)


STATUS_STYLE = {"ok": "green", "drift": "yellow", "missing": "red", "corrupt": "bold red", "unreachable": "magenta"}


def _print_drift(reports, drift_mod) -> None:
    table = Table("host", "model", "role", "desired", "active", "installed (inactive)", "service", "status", "coral")
    for report in reports:
        for index, row in enumerate(report.models):
            service = report.services.get(row.role, "-") if report.reachable else "-"
            desired = row.desired + (" (pin)" if row.pinned else "")
            status = f"[{STATUS_STYLE[row.status]}]{row.status}[/]"
            if row.detail and row.status != "ok":
                status += f" ({row.detail})" if row.status != "unreachable" else f" ({report.error})"
            table.add_row(report.host, row.model, row.role, desired, ", ".join(row.active) or "-",
                          ", ".join(row.installed) or "-", service, status, _coral_cell(report.coral) if index == 0 else "")
    out.print(table)
    counts = drift_mod.summary(reports)
    line = "  ".join(f"{status}: {count}" for status, count in counts.items())
    coral = [r.coral["status"] for r in reports if r.coral]
    if coral:
        line += "  coral " + ", ".join(f"{s}: {coral.count(s)}" for s in dict.fromkeys(sorted(coral)))
    out.print(line)


def _coral_cell(coral: dict | None) -> str:
    """The host's Coral runtime in the drift table: status, then the versions or what differs."""
    if not coral:
        return "-"
    style = STATUS_STYLE.get(coral["status"], "red")
    if coral["status"] == "ok":
        return f"[{style}]ok[/] (" + ", ".join(f"{p} {v}" for p, v in coral["desired"].items()) + ")"
    return f"[{style}]{coral['status']}[/]" + (f" ({coral['detail']})" if coral["detail"] else "")


# --- registry changes: rollback, promote, pin, unpin, history ------------------------------------

def _primary(inv: CheckedInventory):
    for host in inv.hosts:
        if host.is_primary_datasink:
            return host
    fail("the inventory has no primary datasink (primary_datasink names no host in group datasinks)")


def _check_store(inventory, inv: CheckedInventory, store: str | None, model: str, versions: list[str], deep: bool) -> None:
    """Fail (exit 2) unless every version is in the store (and verifies, when deep)."""
    from .changes import store_checks

    if store:
        root = Path(store)
        results = {}
        for v in versions:
            if deep:
                r = store_mod.verify_version(root, model, v)
                results[v] = "ok" if r.ok else ("missing" if r.error == "not in the store" else "mismatch")
            else:
                results[v] = "ok" if store_mod.manifest_digest(root, model, v) else "missing"
        where = str(root)
    else:
        primary = _primary(inv)
        where = f"{primary.name}:{primary.data['sentinelcam_model_registry']}"
        results = store_checks(Path(inventory), primary.name, primary.data["sentinelcam_model_registry"], model, versions, deep)
    bad = {v: r for v, r in results.items() if r != "ok"}
    if bad:
        v, r = next(iter(bad.items()))
        reason = {"missing": "is not in the store", "nomanifest": "has no MANIFEST.sha256 in the store",
                  "mismatch": "does not verify against its MANIFEST.sha256"}.get(r, r)
        fail(f"{model} {v} {reason} ({where})")


def _users_of(inv: CheckedInventory, model: str, only_unpinned: bool = True) -> list[str]:
    hosts = []
    for name, plan in inv.plans.items():
        uses = [p for p in plan.placements if p.model == model and not (only_unpinned and p.pinned)]
        if uses or (model == "face_recognition" and plan.facelist):
            hosts.append(name)
    return hosts


def _confirm(yes: bool, question: str) -> None:
    if yes or not sys.stdin.isatty():
        return
    if not click.confirm(question, default=False):
        click.echo("aborted; nothing changed", err=True)
        sys.exit(1)


def _apply_change(action, inventory, primary, path, write, message, hosts, model, no_commit, no_deploy, undo, details):
    """Write ``path``, commit, log, redeploy; a failed commit restores the file."""
    from .changes import commit_files, log_action, redeploy
    from .edit import file_lock, write_atomically

    # The lock spans the edit and the commit: concurrent changes apply one after the other.
    with file_lock(path):
        try:
            before = write()  # the text it replaced, read under the lock
        except OperatorError as exc:
            log_action(action, f"failed: {exc}", **details)
            raise
        if not no_commit:
            try:
                commit_files([path], message)
            except OperatorError as exc:
                if before is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomically(path, before)
                log_action(action, f"failed: {exc}", **details)
                raise
    out.print(message + ("" if no_commit else " (committed)"))
    code = 0
    if not no_deploy:
        out.print(f"--> Redeploying {model} to {', '.join(hosts) if hosts else 'no host'}")
        code = redeploy(Path(inventory), hosts, model, primary)
    outcome = "ok" if code == 0 else f"deploy failed (exit {code})"
    log_action(action, outcome, hosts=hosts, deployed=not no_deploy, committed=not no_commit, **details)
    if code != 0:
        click.echo(f"error: the registry changed but the deploy failed on some hosts (exit {code}); "
                   "re-run the deploy or undo below", err=True)
    out.print(f"To undo: {undo}")
    sys.exit(1 if code else 0)


change_options = [
    click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation"),
    click.option("--dry-run", is_flag=True, help="print the edit and the hosts; change nothing"),
    click.option("--no-commit", is_flag=True, help="do not commit the change to git"),
    click.option("--no-deploy", is_flag=True, help="do not redeploy the configs"),
    store_option,
    inventory_option,
]


def with_change_options(func):
    for option in reversed(change_options):
        func = option(func)
    return func


def _version_change(action, model, target, inventory, store, yes, dry_run, no_commit, no_deploy, deep_store):
    from .edit import replace_values, set_model_versions
    import difflib

    inventory = str(inventory or default_inventory())
    inv = checked(inventory)
    registry_file = Path(inv.registry.path)
    entry = inv.registry.model(model)
    if entry is None:
        fail(f"{registry_file}: unknown model {model!r} (known: {', '.join(inv.registry.models)})")
    if target is None:
        if entry.previous_version is None:
            fail(f"{registry_file}: sentinelcam_models.{model}.previous_version is null: nothing to roll back to")
        target = entry.previous_version
    from . import names as names_mod

    if not names_mod.is_version(target):
        fail(f"model {model}: {names_mod.describe_version_error(target)}")
    if target == entry.current_version:
        out.print(f"{model} is already at {target}; nothing to do")
        sys.exit(0)
    _check_store(inventory, inv, store, model, [target], deep_store)
    old_current = entry.current_version
    verb = "Rollback" if action == "rollback" else "Promote"
    message = f"{verb} {model} from {old_current} to {target}"
    hosts = _users_of(inv, model)
    text = registry_file.read_text()
    new_text = replace_values(text, ("sentinelcam_models", model),
                              {"current_version": target, "previous_version": old_current}, str(registry_file))
    if dry_run:
        out.print(f"DRY RUN: {message}")
        click.echo("".join(difflib.unified_diff(text.splitlines(True), new_text.splitlines(True),
                                                 str(registry_file), str(registry_file))))
        out.print(f"hosts to redeploy: {', '.join(hosts) or 'none'}")
        sys.exit(0)
    _confirm(yes, f"{message} and redeploy {len(hosts)} hosts?")
    undo = f"sentinelcam-models rollback {model} {old_current} -i {inventory} --yes"
    _apply_change(
        action, inventory, _primary(inv).name, registry_file,
        lambda: set_model_versions(registry_file, model, target, old_current, expect_current=old_current, lock=False)[0],
        message, hosts, model, no_commit, no_deploy, undo,
        {"model": model, "from": old_current, "to": target},
    )


@main.command()
@click.argument("model")
@click.argument("version", required=False)
@click.option("--previous", is_flag=True, help="roll back to previous_version")
@with_change_options
def rollback(model, version, previous, yes, dry_run, no_commit, no_deploy, store, inventory):
    """Make VERSION (or --previous) the current version of MODEL, commit, and redeploy configs."""
    if previous == bool(version):
        fail("give either VERSION or --previous")
    _version_change("rollback", model, None if previous else version, inventory, store, yes, dry_run,
                    no_commit, no_deploy, deep_store=False)


@main.command()
@click.argument("model")
@click.argument("version")
@with_change_options
def promote(model, version, yes, dry_run, no_commit, no_deploy, store, inventory):
    """Make a newly published VERSION current (it must verify in the store), commit, and deploy."""
    _version_change("promote", model, version, inventory, store, yes, dry_run, no_commit, no_deploy, deep_store=True)


def _pin_change(host_name, model, version, inventory, store, yes, dry_run, no_commit, no_deploy):
    from .edit import set_pin
    from .hostdata import host_data_file
    from . import names as names_mod

    inventory = str(inventory or default_inventory())
    inv = checked(inventory)
    if host_name not in {h.name for h in inv.hosts}:
        fail(f"{inventory}: no host {host_name!r}")
    if inv.registry.model(model) is None:
        fail(f"{inv.registry.path}: unknown model {model!r} (known: {', '.join(inv.registry.models)})")
    if version is not None:
        if not names_mod.is_version(version):
            fail(f"model {model}: {names_mod.describe_version_error(version)}")
        _check_store(inventory, inv, store, model, [version], False)
    pin_file = host_data_file(inventory, host_name)
    current = (next(h for h in inv.hosts if h.name == host_name).data.get("model_version_overrides") or {}).get(model)
    if current == version:
        out.print(f"{host_name}: {model} is already {'pinned to ' + version if version else 'unpinned'}; nothing to do")
        sys.exit(0)
    message = (f"Pin {model} on {host_name} to {version}" if version
               else f"Unpin {model} on {host_name} (was {current})")
    if dry_run:
        out.print(f"DRY RUN: {message} in {pin_file}; host to redeploy: {host_name}")
        sys.exit(0)
    _confirm(yes, f"{message}?")
    undo = (f"sentinelcam-models pin {host_name} {model} {current} -i {inventory} --yes" if current
            else f"sentinelcam-models unpin {host_name} {model} -i {inventory} --yes")
    _apply_change(
        "pin" if version else "unpin", inventory, _primary(inv).name, pin_file,
        lambda: set_pin(pin_file, model, version, lock=False)[0],
        message, [host_name], model, no_commit, no_deploy, undo,
        {"host": host_name, "model": model, "from": current, "to": version},
    )


@main.command()
@click.argument("host")
@click.argument("model")
@click.argument("version")
@with_change_options
def pin(host, model, version, yes, dry_run, no_commit, no_deploy, store, inventory):
    """Pin HOST to VERSION of MODEL (inventories/host_data/HOST.yaml), commit, and redeploy it."""
    _pin_change(host, model, version, inventory, store, yes, dry_run, no_commit, no_deploy)


@main.command()
@click.argument("host")
@click.argument("model")
@with_change_options
def unpin(host, model, yes, dry_run, no_commit, no_deploy, store, inventory):
    """Remove HOST's pin of MODEL, commit, and redeploy it at the registry's current version."""
    _pin_change(host, model, None, inventory, store, yes, dry_run, no_commit, no_deploy)


@main.command()
@click.argument("model")
@inventory_option
@click.option("--json", "as_json", is_flag=True)
def history(model, inventory, as_json):
    """MODEL's version changes from git log of the registry file (date, author, from -> to)."""
    from .changes import history as git_history

    inventory = inventory or default_inventory()
    from .registry import registry_file_for

    rows = git_history(registry_file_for(inventory), model)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("date", "author", "from", "to", "commit", "message", title=f"{model} history")
    for row in rows:
        table.add_row(row["date"], row["author"], row["from"] or "-", row["to"] or "-", row["commit"], row["subject"])
    out.print(table)


@main.command()
@inventory_option
@store_option
@click.option("--keep", type=int, default=None, help="newest other versions to keep (default: sentinelcam_model_retention)")
@click.option("--dry-run", is_flag=True, help="print what would be removed; change nothing")
def cleanup(inventory, store, keep, dry_run):
    """Remove old versions from the store: keeps current, previous, pinned and the N newest others."""
    from . import retention
    from .changes import log_action

    inventory = inventory or default_inventory()
    inv = checked(inventory)
    root = store_path(store, inv)
    if not root.is_dir():
        fail(f"{root}: store not found")
    if keep is None:
        keep = int(_primary(inv).data.get("sentinelcam_model_retention", 5))
    policy = retention.policy_for(inv.registry, inv.hosts, keep)
    freed = retention.cleanup(root, policy, keep, dry_run, log=out.print)
    log_action("cleanup", "dry-run" if dry_run else "ok", store=str(root), keep=keep, bytes_freed=freed)


# --- Coral EdgeTPU packages ----------------------------------------------------------------------

@main.group()
def coral() -> None:
    """The Coral EdgeTPU runtime packages in the store."""


@coral.command()
@click.option("--from", "source", default=None, metavar="URL_OR_DIR",
              help="a mirror base URL or a local directory holding the files (default: each download_url)")
@store_option
@inventory_option
def fetch(source: str | None, store: str | None, inventory: str | None) -> None:
    """Fetch the files coral_packages names into {store}/coral_packages/, each checked against the
    registry's sha256; all or nothing. Exit 1 on a mismatch or a failed download (store unchanged)."""
    from . import coral as coral_mod

    inv = checked(inventory or default_inventory())
    root = store_path(store, inv)
    result = coral_mod.fetch(root, dict(inv.registry.coral_packages), source)
    for name in result.present:
        out.print(f"already stored {name} (sha256 matches the registry)")
    for name in result.stored:
        out.print(f"stored {name} -> {result.directory / name}")
