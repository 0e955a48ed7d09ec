"""drift: what runs where."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ... import version as package_version
from ...core import drift as drift_core
from ...fleet import queries
from ...store.atomic import write_atomically
from ..drifttable import print_drift
from ..options import hosts_option, inventory_option, warns_coral
from ..render import out
from ..session import session


@click.command()
@inventory_option
@hosts_option("--limit", "limits", help="host names (globs) or groups", patterns=True)
@click.option("--model", "model_filter", multiple=True, help="only these models; repeatable")
@click.option(
    "--deep", is_flag=True, help="re-hash installed files against their manifests on the nodes"
)
@click.option(
    "--json", "as_json", is_flag=True, help="print the documented JSON document (see README)"
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "wide"]),
    default="table",
    show_default=True,
    help="table: grouped by host, fits the terminal; wide: every column, one row per model",
)
@click.option(
    "--prometheus",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write Prometheus text format here (node_exporter textfile collector)",
)
@warns_coral
def drift(
    inventory: str,
    limits: tuple[str, ...],
    model_filter: tuple[str, ...],
    deep: bool,
    as_json: bool,
    output: str,
    prometheus: str | None,
) -> None:
    """What runs where: desired vs active vs installed, per host and model, with face files the node
    changed, the Coral runtime, and the last rollout's health gate.

    Exit 0 all ok; 1 any drift, missing, corrupt, Coral difference or reverted node; 2 config error
    or any host unreachable.
    """
    result = queries.drift(session(inventory), limits, model_filter, deep)
    reports = result.reports
    code = result.exit_code
    if prometheus:
        Path(prometheus).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(Path(prometheus), drift_core.to_prometheus(reports))
    if as_json:
        document = drift_core.to_document(reports, str(inventory), deep)
        click.echo(json.dumps({"version": package_version(), **document}, indent=2))
    else:
        print_drift(out, reports, output)
    sys.exit(code)
