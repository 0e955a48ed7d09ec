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
from ..store.atomic import LockWait
from . import completion

inventory_option = click.option(
    "-i",
    "--inventory",
    "inventory",
    type=click.Path(dir_okay=False),
    envvar=INVENTORY_ENV,
    default=lambda: str(default_inventory()),
    show_default="$SENTINELCAM_INVENTORY, else the checkout's inventories/production.py",
    help="pyinfra inventory file",
)
_store_dir = click.option(
    "--store",
    type=click.Path(file_okay=False),
    default=None,
    help="a store directory on this machine (default: the primary datasink's store, over SSH from elsewhere)",
)


def _set_lock_timeout(_ctx: Any, _param: Any, value: float | None) -> None:
    LockWait.timeout = value


_lock_timeout = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=None,
    expose_value=False,
    callback=_set_lock_timeout,
    metavar="SECONDS",
    help="give up when the store lock is still held after this long (default: wait, saying who "
    "holds it)",
)


def store_option(func: Callable) -> Callable:
    """--store DIR and --lock-timeout SECONDS."""
    return _store_dir(_lock_timeout(func))


json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")


class ModelName(click.ParamType):
    name = "model"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if not names.is_model_name(value):
            self.fail(f"{value!r} is not a model name ([a-z0-9_]+)", param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        return completion.items(completion.model_names(ctx), incomplete)


class Version(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if not names.is_version(value):
            self.fail(names.describe_version_error(value), param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        return completion.items(completion.versions(ctx), incomplete)


class HostName(click.ParamType):
    name = "host"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        if not names.is_host_name(value):
            self.fail(f"{value!r} is not a host name", param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        return completion.items(completion.host_names(ctx), incomplete)


class HostList(click.ParamType):
    """One host-list syntax everywhere: a repeatable option, each value one name or several
    separated by commas (``--limit a --limit b`` = ``--limit a,b``). Values are lists: the option's
    ``callback=flatten`` joins them into one tuple."""

    name = "host[,host...]"

    def __init__(self, patterns: bool = False):
        self.patterns = patterns  # globs and group names too (drift --limit)

    def convert(self, value: Any, param: Any, ctx: Any) -> list[str]:
        if isinstance(value, list):
            return value
        items = [part.strip() for part in str(value).split(",")]
        if not all(items):
            self.fail(f"{value!r}: an empty host name (write a,b or repeat the option)", param, ctx)
        for item in items:
            if not self.patterns and not names.is_host_name(item):
                self.fail(f"{item!r} is not a host name", param, ctx)
        return items

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        return [
            click.shell_completion.CompletionItem(prefix + name)
            for name in completion.host_names(ctx)
            if name.startswith(last)
        ]


def flatten(_ctx: Any, _param: Any, value: Any) -> tuple[str, ...]:
    """A repeatable HostList option's values as one tuple, each name once, in order."""
    seen: dict[str, None] = {}
    for group in value or ():
        for item in group:
            seen.setdefault(item, None)
    return tuple(seen)


def hosts_option(*decls: str, help: str, patterns: bool = False) -> Callable:
    """A host-list option: repeatable, commas accepted."""
    return click.option(
        *decls,
        multiple=True,
        type=HostList(patterns),
        callback=flatten,
        metavar="HOST[,HOST...]",
        help=f"{help}; repeat the option or separate names with commas",
    )


def requires(option: str, needed: str, why: str = "") -> Callable:
    """Refuse ``option`` given on the command line without ``needed`` (exit 2, one line)."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            if _given(ctx, option) and not _given(ctx, needed):
                raise click.UsageError(
                    f"{_flag(ctx, option)} needs {_flag(ctx, needed)}"
                    + (f" ({why})" if why else "")
                )
            return func(*args, **kwargs)

        return wrapper

    return decorate


def conflicts(option: str, other: str, why: str = "") -> Callable:
    """Refuse ``option`` and ``other`` given together (exit 2, one line)."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            if _given(ctx, option) and _given(ctx, other):
                raise click.UsageError(
                    f"{_flag(ctx, option)} cannot be used with {_flag(ctx, other)}"
                    + (f" ({why})" if why else "")
                )
            return func(*args, **kwargs)

        return wrapper

    return decorate


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    if source not in (
        click.core.ParameterSource.COMMANDLINE,
        click.core.ParameterSource.ENVIRONMENT,
    ):
        return False
    return bool(ctx.params.get(name))


def _flag(ctx: click.Context, name: str) -> str:
    for param in ctx.command.params:
        if param.name == name and isinstance(param, click.Option):
            return max(param.opts, key=len)
    return name


def warns_coral(func: Callable) -> Callable:
    """This command prints the registry's unset Coral digests warning (validate, drift, coral);
    the others stay quiet about it (the deploy refuses those hosts with its own line)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click.get_current_context().meta[CORAL_WARNING] = True
        return func(*args, **kwargs)

    return wrapper


CORAL_WARNING = "sentinelcam_models.coral_warning"
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
