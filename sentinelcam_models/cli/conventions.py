"""What every command shares with git, pyinfra and Ansible: ``-h``, ``--version``, an ``Examples:``
block on every help page, the checkout named first when it is not the current directory, and no
third-party log lines (pyinfra's and paramiko's loggers; ``SENTINELCAM_DEBUG=1`` shows them)."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import click

from .. import version as package_version
from ..paths import REPO_ENV, checkout

PROG = "sentinelcam-models"
HELP_OPTIONS = ["-h", "--help"]

# Command path (without the program name) -> example lines. Every command has some: a test walks
# the command tree and fails for a command without them.
EXAMPLES: dict[str, list[str]] = {
    "": [
        "sentinelcam-models validate",
        "sentinelcam-models drift",
        "sentinelcam-models promote mobilenet_ssd 2026-03-01 --canary alpha5",
        "sentinelcam-models --repo ~/fleet-config list",
        "sentinelcam-models drift -h",
    ],
    "validate": [
        "sentinelcam-models validate",
        "sentinelcam-models validate -i inventories/demo.py",
        "sentinelcam-models --repo ~/fleet-config validate",
    ],
    "init-store": ["sentinelcam-models init-store"],
    "publish": [
        "sentinelcam-models publish mobilenet_ssd ./export/",
        "sentinelcam-models publish mobilenet_ssd ./export/ --version 2026-03-01",
        "sentinelcam-models publish haarcascades ./cascades/ --store /srv/sentinelcam/model_registry",
    ],
    "verify": [
        "sentinelcam-models verify",
        "sentinelcam-models verify mobilenet_ssd",
        "sentinelcam-models verify mobilenet_ssd 2026-03-01",
        "sentinelcam-models verify --store /srv/sentinelcam/model_registry",
    ],
    "list": [
        "sentinelcam-models list",
        "sentinelcam-models list mobilenet_ssd",
        "sentinelcam-models list --json",
    ],
    "adopt": ["sentinelcam-models adopt --dry-run", "sentinelcam-models adopt"],
    "cleanup": [
        "sentinelcam-models cleanup --dry-run",
        "sentinelcam-models cleanup --keep 3",
    ],
    "drift": [
        "sentinelcam-models drift",
        "sentinelcam-models drift --limit sentinel1,alpha5 --model face_recognition",
        "sentinelcam-models drift -o wide",
        "sentinelcam-models drift --json | jq .summary",
        "sentinelcam-models drift --prometheus /var/lib/node_exporter/sentinelcam.prom",
    ],
    "rollback": [
        "sentinelcam-models rollback mobilenet_ssd --previous",
        "sentinelcam-models rollback mobilenet_ssd 2025-12-01 --dry-run",
    ],
    "promote": [
        "sentinelcam-models promote mobilenet_ssd 2026-03-01",
        "sentinelcam-models promote mobilenet_ssd 2026-03-01 --dry-run",
        "sentinelcam-models promote mobilenet_ssd 2026-03-01 --canary alpha5 --waves 50%,100%",
        "sentinelcam-models promote face_recognition 2026-03-01 --canary sentinel1,sentinel2",
    ],
    "pin": [
        "sentinelcam-models pin alpha5 mobilenet_ssd 2025-12-01",
        "sentinelcam-models pin alpha5 mobilenet_ssd 2025-12-01 --dry-run",
    ],
    "unpin": ["sentinelcam-models unpin alpha5 mobilenet_ssd"],
    "history": [
        "sentinelcam-models history mobilenet_ssd",
        "sentinelcam-models history mobilenet_ssd --json",
    ],
    "coral": ["sentinelcam-models coral fetch", "sentinelcam-models coral fetch -h"],
    "coral fetch": [
        "sentinelcam-models coral fetch",
        "sentinelcam-models coral fetch --from https://mirror.example.org/coral/",
        "sentinelcam-models coral fetch --from ./debs --no-dev",
    ],
    "faces": [
        "sentinelcam-models faces archives",
        "sentinelcam-models faces remove-archive sentinel1 2025-02-25.faces-20260101T120000Z",
    ],
    "faces archives": [
        "sentinelcam-models faces archives",
        "sentinelcam-models faces archives --limit sentinel1,sentinel2",
    ],
    "faces remove-archive": [
        "sentinelcam-models faces remove-archive sentinel1 2025-02-25.faces-20260101T120000Z",
    ],
    "rollout": [
        "sentinelcam-models rollout status",
        "sentinelcam-models rollout resume mobilenet_ssd",
        "sentinelcam-models rollout undo mobilenet_ssd",
    ],
    "rollout status": [
        "sentinelcam-models rollout status",
        "sentinelcam-models rollout status mobilenet_ssd --json",
    ],
    "rollout resume": ["sentinelcam-models rollout resume mobilenet_ssd"],
    "rollout undo": ["sentinelcam-models rollout undo mobilenet_ssd"],
}


def examples_block(lines: list[str]) -> str:
    """An epilog click prints as it is (``\\b`` stops its rewrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def walk(command: click.Command, path: str = ""):
    """(path, command) for the command and every subcommand, depth first."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, f"{path} {name}".strip())


def add_examples(root: click.Command) -> None:
    for path, command in walk(root):
        lines = EXAMPLES.get(path)
        if lines and not command.epilog:
            command.epilog = examples_block(lines)


def version_message() -> str:
    """``sentinelcam-models --version``: the package, Python, pyinfra, and the checkout."""
    try:
        from importlib.metadata import version  # noqa: PLC0415

        pyinfra = version("pyinfra")
    except Exception:  # pyinfra is a dependency: only a broken install lands here
        pyinfra = "missing"
    try:
        repo = checkout()
    except Exception as exc:  # --version never fails: it says what is wrong instead
        repo_line = f"checkout: {exc}"
    else:
        repo_line = f"checkout: {repo}" if repo else "checkout: none (not in a checkout)"
    return (
        f"{PROG} {package_version()}\n"
        f"python {platform.python_version()}, pyinfra {pyinfra}, installed in "
        f"{Path(__file__).resolve().parents[2]}\n"
        f"{repo_line}"
    )


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(version_message())
    ctx.exit()


@contextlib.contextmanager
def quiet_third_party() -> Iterator[None]:
    """pyinfra's and paramiko's loggers print to stderr through logging's last resort ("Failed to
    load host keys from ..."); the commands report connection problems themselves, one line each.
    For the command's duration only (the CLI may run in-process, as in tests)."""
    if os.environ.get("SENTINELCAM_DEBUG"):
        yield
        return
    saved = []
    for name in ("pyinfra", "paramiko"):
        logger = logging.getLogger(name)
        handler = logging.NullHandler()
        saved.append((logger, handler, logger.propagate))
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, handler, propagate in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate


def announce_checkout() -> None:
    """The first line names the checkout when it is not the current directory (stderr: --json
    documents stay one document on stdout). The redeploy runs in this process, from the same
    checkout (fleet/pyinfrarun.py); it is exported as $SENTINELCAM_REPO all the same, for any
    process the command starts (git, a pyinfra run the operator starts from it)."""
    repo = checkout()
    if repo is None:
        return
    os.environ[REPO_ENV] = str(repo)
    if repo != Path.cwd().resolve():
        click.echo(f"checkout: {repo}", err=True)
