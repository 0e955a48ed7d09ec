"""Options and parameter types shared by the commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from ..core import names
from ..core.problems import BadInput, Declined
from ..fleet.usecases import ChangeOptions, Ui
from ..paths import INVENTORY_ENV, default_inventory

inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory",
    type=click.Path(dir_okay=False),
    envvar=INVENTORY_ENV,
    default=lambda: str(default_inventory()),
    show_default="inventories/production.py or $SENTINELCAM_INVENTORY",
    help="pyinfra inventory file",
)
store_option = click.option(
    "--store",
    type=click.Path(file_okay=False),
    default=None,
    help="a store directory on this machine (default: the primary datasink's store, over SSH from elsewhere)",
)
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")
yes_option = click.option(
    "--yes", "-y", is_flag=True, help="do not ask (needed to change anything without a terminal)"
)


class ModelName(click.ParamType):
    name = "model"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if not names.is_model_name(value):
            self.fail(f"{value!r} is not a model name ([a-z0-9_]+)", param, ctx)
        return str(value)


class Version(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if not names.is_version(value):
            self.fail(names.describe_version_error(value), param, ctx)
        return str(value)


class HostName(click.ParamType):
    name = "host"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if not names.is_host_name(value):
            self.fail(f"{value!r} is not a host name", param, ctx)
        return str(value)


MODEL, VERSION, HOST = ModelName(), Version(), HostName()


def change_options(func: Callable) -> Callable:
    """--yes --dry-run --json --no-commit --no-deploy --store -i, packed into one
    ``opts: ChangeOptions`` (and ``as_json``: the --dry-run plan as one JSON document)."""

    @yes_option
    @click.option("--dry-run", is_flag=True, help="print the edit and the hosts; change nothing")
    @click.option("--json", "as_json", is_flag=True, help="with --dry-run: the plan as JSON")
    @click.option("--no-commit", is_flag=True, help="do not commit the change to git")
    @click.option("--no-deploy", is_flag=True, help="do not redeploy the configs")
    @store_option
    @inventory_option
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        yes: bool,
        dry_run: bool,
        as_json: bool,
        no_commit: bool,
        no_deploy: bool,
        store: str | None,
        inventory: str,
        **kwargs: Any,
    ) -> Any:
        if as_json and not dry_run:
            raise BadInput("--json prints the --dry-run plan: give --dry-run too")
        opts = ChangeOptions(inventory, yes, dry_run, no_commit, no_deploy, store)
        return func(*args, opts=opts, as_json=as_json, **kwargs)

    return wrapper


def interactive() -> bool:
    """Is there an operator at a terminal to answer a question?"""
    return sys.stdin.isatty()


def confirm(yes: bool, question: str) -> None:
    """Ask before a change; a no is exit 3 with nothing changed. Without a terminal there is no one
    to ask: without --yes that is a refusal (exit 3, one line), never a silent yes."""
    if yes:
        return
    if not interactive():
        raise Declined(
            f"not confirmed (no terminal to ask, and no --yes): {question.removesuffix('?')}; "
            "nothing changed"
        )
    if not click.confirm(question, default=False):
        raise Declined("declined; nothing changed")


def ui(yes: bool) -> Ui:
    """Progress lines on stdout; questions answered by --yes or on the terminal."""
    from .render import say  # noqa: PLC0415 - render opens the console

    return Ui(say, lambda question: confirm(yes, question))
