"""drift: what runs where."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.text import Text

from ...core import drift as drift_core
from ...core.problems import BadInput
from ...fleet.query import query_fleet, select_hosts
from ...fleet.rollouts import pending_hosts
from ...store.atomic import write_atomically
from ..options import inventory_option
from ..render import out, row, table, text
from ..session import load

STATUS_STYLE = {
    "ok": "green",
    "drift": "yellow",
    "missing": "red",
    "corrupt": "bold red",
    "unreachable": "magenta",
    "error": "bold red",
    "passed": "green",
    "reverted": "bold red",
    "failed": "bold red",
    "pending": "cyan",
}


@click.command()
@inventory_option
@click.option("--limit", "limits", multiple=True, help="host name (glob) or group; repeatable")
@click.option("--model", "model_filter", multiple=True, help="only these models; repeatable")
@click.option(
    "--deep", is_flag=True, help="re-hash installed files against their manifests on the nodes"
)
@click.option(
    "--json", "as_json", is_flag=True, help="print the documented JSON document (see README)"
)
@click.option(
    "--prometheus",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write Prometheus text format here (node_exporter textfile collector)",
)
def drift(
    inventory: str,
    limits: tuple[str, ...],
    model_filter: tuple[str, ...],
    deep: bool,
    as_json: bool,
    prometheus: str | None,
) -> None:
    """What runs where: desired vs active vs installed, per host and model, with face files the node
    changed, the Coral runtime, and the last rollout's health gate.

    Exit 0 all ok; 1 any drift, missing, corrupt, Coral difference or reverted node; 2 config error
    or any host unreachable.
    """
    checked, pyinfra_inventory = load(inventory)
    unknown = [m for m in model_filter if m not in checked.registry.models]
    if unknown:
        raise BadInput(
            f"{checked.registry.path}: unknown model {unknown[0]!r} "
            f"(known: {', '.join(checked.registry.models)})"
        )
    hosts = [
        h
        for h in select_hosts(pyinfra_inventory, limits)
        if checked.plans[h.name].placements or checked.plans[h.name].facelist
    ]
    if limits and not hosts:
        raise BadInput(f"--limit {' '.join(limits)}: no host in {inventory} matches")
    facts = query_fleet(pyinfra_inventory, hosts, checked, deep=deep, with_coral=not model_filter)
    pending = pending_hosts(checked)
    reports = []
    for host in hosts:
        node, error = facts.get(host.name, (None, "no answer"))
        report = drift_core.assess_host(
            checked.settings[host.name],
            checked.plans[host.name],
            node,
            error,
            deep,
            None if model_filter else checked.registry.coral,
            pending.get(host.name),
        )
        if model_filter:
            report.models = [r for r in report.models if r.model in model_filter]
        reports.append(report)
    code = drift_core.exit_code(reports)
    if prometheus:
        Path(prometheus).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(Path(prometheus), drift_core.to_prometheus(reports))
    if as_json:
        click.echo(json.dumps(drift_core.to_document(reports, str(inventory), deep), indent=2))
    else:
        _print(reports)
    sys.exit(code)


def _status(status: str, detail: str = "") -> Text:
    shown = text(status, STATUS_STYLE.get(status, "red"))
    if detail:
        shown.append(text(f" ({detail})"))
    return shown


def _print(reports: list[drift_core.HostReport]) -> None:
    shown = table(
        "host",
        "model",
        "role",
        "desired",
        "active",
        "installed (inactive)",
        "service",
        "status",
        "node-modified",
        "coral",
        "gate",
    )
    for report in reports:
        for index, item in enumerate(report.models):
            service = report.services.get(item.role, "-") if report.reachable else "-"
            desired = item.desired + (" (pin)" if item.pinned else "")
            detail = (
                (report.error or "") if item.status in ("unreachable", "error") else item.detail
            )
            coral = report.coral if index == 0 else None
            gate = report.gate if index == 0 else None
            row(
                shown,
                report.host,
                item.model,
                item.role,
                desired,
                ", ".join(item.active) or "-",
                ", ".join(item.installed) or "-",
                service,
                _status(item.status, detail if item.status != "ok" else ""),
                ", ".join(item.node_modified) or "-",
                _status(coral["status"], coral["detail"])
                if coral
                else text("-" if index == 0 else ""),
                _status(gate["status"], gate["detail"])
                if gate
                else text("-" if index == 0 else ""),
            )
    out.print(shown)
    counts = drift_core.summary(reports)
    line = "  ".join(f"{status}: {count}" for status, count in counts.items())
    corals = [r.coral["status"] for r in reports if r.coral]
    if corals:
        line += "  coral " + ", ".join(f"{s}: {corals.count(s)}" for s in sorted(set(corals)))
    gates = [r.gate["status"] for r in reports if r.gate]
    if gates:
        line += "  gate " + ", ".join(f"{s}: {gates.count(s)}" for s in sorted(set(gates)))
    out.print(text(line))
