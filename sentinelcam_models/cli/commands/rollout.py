"""rollout: staged rollouts in progress (status, resume, undo)."""

from __future__ import annotations

import click


@click.group()
def rollout() -> None:
    """Staged rollouts (promote --canary/--waves): status, resume, undo."""
