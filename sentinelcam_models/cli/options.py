"""Options and parameter types shared by the commands."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from ..core import names
from ..core.problems import Declined
from ..fleet.changes import ChangeOptions
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
    """--yes --dry-run --no-commit --no-deploy --store -i, packed into one ``opts: ChangeOptions``."""

    @click.option("--yes", "-y", is_flag=True, help="do not ask for confirmation")
    @click.option("--dry-run", is_flag=True, help="print the edit and the hosts; change nothing")
    @click.option("--no-commit", is_flag=True, help="do not commit the change to git")
    @click.option("--no-deploy", is_flag=True, help="do not redeploy the configs")
    @store_option
    @inventory_option
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        yes: bool,
        dry_run: bool,
        no_commit: bool,
        no_deploy: bool,
        store: str | None,
        inventory: str,
        **kwargs: Any,
    ) -> Any:
        opts = ChangeOptions(inventory, yes, dry_run, no_commit, no_deploy, store)
        return func(*args, opts=opts, **kwargs)

    return wrapper


def confirm(yes: bool, question: str) -> None:
    """Ask on a terminal only; a no is exit 3 with nothing changed."""
    if yes or not sys.stdin.isatty():
        return
    if not click.confirm(question, default=False):
        raise Declined("declined; nothing changed")
