"""Apply a registry change: lock, write, commit, log, refresh the retention policy, redeploy.

The order is what keeps nothing lost: the file is written and committed under one lock (a failed
commit restores it); the action log and the undo command are written before anything else can
fail; the primary's retention policy is rewritten at once (a weekly cleanup must never remove the
version that just became current, whether or not any host redeploys); then the configs of exactly
the hosts that use the model are redeployed, with the same interpreter (``python -m pyinfra``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.changes import Change
from ..core.policy import data_path, policy_for, policy_path
from ..core.problems import CheckFailed, OperatorError
from ..core.validation import CheckedInventory
from ..paths import REPO_ENV, REPO_ROOT, checkout, deploy_file
from ..store.actionlog import log_action
from ..store.atomic import file_lock, write_atomically
from ..store.git import commit_files
from .inventory import check as check_inventory_files
from .inventory import load_pyinfra_inventory, raw_hosts
from .stores import open_store


@dataclass(frozen=True)
class ChangeOptions:
    """The options every change command takes."""

    inventory: str
    yes: bool = False
    dry_run: bool = False
    no_commit: bool = False
    no_deploy: bool = False
    store: str | None = None


def _write(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)


def redeploy(inventory: str, hosts: list[str], model: str) -> int:
    """Config redeploy of one model to exactly these hosts (versions already there move no bytes)."""
    if not hosts:
        return 0
    command = [
        sys.executable,
        "-m",
        "pyinfra",
        "-y",
        str(Path(inventory).resolve()),
        str(deploy_file("models.py")),
        "--data",
        f"models={model}",
    ]
    for host in hosts:
        command += ["--limit", host]
    repo = checkout()  # the deploy reads its templates from the same checkout
    env = {**os.environ, REPO_ENV: str(repo)} if repo else None
    return subprocess.run(command, cwd=repo or REPO_ROOT, env=env).returncode


def refresh_policy(inventory: str, say: Callable[[str], None]) -> None:
    """Rewrite the primary's retention policy from the inventory as it now is (after the change)."""
    pyinfra_inventory = load_pyinfra_inventory(inventory)
    checked = check_inventory_files(inventory, raw_hosts(pyinfra_inventory))
    if not isinstance(checked, CheckedInventory):
        raise checked
    store = open_store(checked, None, pyinfra_inventory)
    store.call(
        "write_policy",
        path=policy_path(checked),
        policy=policy_for(checked),
        data_path=data_path(checked),
    )
    say(f"retention policy refreshed on {checked.primary}")


def apply(
    change: Change,
    options: ChangeOptions,
    say: Callable[[str], None],
    undo_line: Callable[[tuple[str, ...]], str],
) -> int:
    """Carry the change out; the exit code (0, or 1 when the redeploy failed)."""
    path = Path(change.file)
    details: dict[str, Any] = dict(change.details)
    with file_lock(path):
        current = path.read_bytes().decode("utf-8") if path.exists() else None
        if current != change.old_text:
            raise OperatorError(f"{path}: changed meanwhile; run the command again")
        _write(path, change.new_text)
        if not options.no_commit:
            try:
                commit_files([path], change.message)
            except OperatorError as exc:
                _write(path, change.old_text)
                log_action(change.action, f"failed: {exc}", **details)
                raise
    say(change.message + ("" if options.no_commit else " (committed)"))
    undo = undo_line(change.undo)
    log_action(
        change.action,
        "changed",
        committed=not options.no_commit,
        hosts=list(change.hosts),
        undo=undo,
        **details,
    )
    say(f"To undo: {undo}")
    try:
        refresh_policy(options.inventory, say)
    except OperatorError as exc:
        say(f"warning: the retention policy on the primary datasink was not refreshed: {exc}")
    if options.no_deploy:
        log_action(change.action, "ok (no deploy)", **details)
        return 0
    say(
        f"--> Redeploying {change.model} to {', '.join(change.hosts) if change.hosts else 'no host'}"
    )
    code = redeploy(options.inventory, list(change.hosts), change.model)
    log_action(
        change.action,
        "ok" if code == 0 else f"deploy failed (exit {code})",
        hosts=list(change.hosts),
        **details,
    )
    if code != 0:
        raise CheckFailed(
            f"the registry changed but the deploy failed on some hosts (exit {code}); re-run the "
            f"deploy or undo with: {undo}"
        )
    return 0
