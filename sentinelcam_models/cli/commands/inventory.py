"""validate: the registry and every host's data."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from ...core.problems import EXIT_BAD_INPUT, BadInput, Problem, Refused
from ..options import inventory_option, json_option, warns_coral
from ..render import say
from ..session import session

SCHEMA = "sentinelcam-models/validate/v1"


def _problem(problem: Problem) -> dict:
    item = asdict(problem)
    return {k: item[k] for k in ("file", "line", "key", "host", "message")}


@click.command()
@inventory_option
@warns_coral
@json_option
def validate(inventory: str, as_json: bool) -> None:
    """Check the registry file and every host's data; exit 2 listing every problem."""
    opened = session(inventory)
    if not as_json:
        checked = opened.checked
        say(
            f"ok: {checked.registry.path}: {len(checked.registry.models)} models; {inventory}: "
            f"{len(checked.settings)} hosts"
        )
        return
    document: dict = {"schema": SCHEMA, "inventory": inventory}
    try:
        checked = opened.checked
    except Refused as exc:
        problems = [_problem(p) for p in exc.problems]
    except BadInput as exc:  # the inventory file itself (not found, raises when loaded)
        problems = [_problem(Problem(inventory, "", str(exc).removeprefix(f"{inventory}: ")))]
    else:
        problems = []
        document.update(
            registry=checked.registry.path,
            models=len(checked.registry.models),
            hosts=len(checked.settings),
            warnings=[_problem(p) for p in checked.warnings],
        )
    document.update(ok=not problems, problems=problems, exit_code=EXIT_BAD_INPUT if problems else 0)
    click.echo(json.dumps(document, indent=2))
    if problems:
        sys.exit(EXIT_BAD_INPUT)
