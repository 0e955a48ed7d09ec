"""
How nodes reach a datasink: the SSH options of every pull, and the per-run sliding window that lets
at most N nodes pull from one datasink at once (N follows its sshd's MaxStartups; the pre-flight
computes it). Shared by the model pulls and the Coral package pulls.
"""

from __future__ import annotations

import weakref
from typing import Any

import gevent.lock
from pyinfra import host
from pyinfra.api import StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS

from facts.output import node_text, print_node_output

SSH_OPTIONS = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=15"

# Per run (State) and datasink: how many nodes pull at once (a sliding window, not batches).
_windows: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _slot(state, datasink: str, limit: int) -> gevent.lock.BoundedSemaphore:
    per_run = _windows.setdefault(state, {})
    if datasink not in per_run:
        per_run[datasink] = gevent.lock.BoundedSemaphore(limit)
    return per_run[datasink]


def in_window(
    state, host, command: StringCommand, datasink: str, limit: int, connector_args: dict
) -> bool:
    """Run ``command`` once a slot towards ``datasink`` is free (at most ``limit`` at a time)."""
    with _slot(state, datasink, limit):
        status, output = host.run_shell_command(command, **connector_args)
    if status:
        for line in output:
            if line.line.startswith("sentinelcam:"):
                host.log(node_text(line.line))
    else:
        print_node_output(host, output)
    return status


def caller_connector_args() -> dict[str, Any]:
    """The connector arguments (sudo, sudo user, ...) the caller gave this operation."""
    arguments: dict[str, Any] = dict(host.current_op_global_arguments or {})
    return {key: arguments[key] for key in CONNECTOR_ARGUMENT_KEYS if key in arguments}
