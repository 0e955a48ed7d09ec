"""Staged rollouts (canary, then waves): their recorded state, beside the inventory, in git."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..core.validation import CheckedInventory

ROLLOUTS_DIR = "rollouts"


def rollouts_dir(registry_file: str | Path) -> Path:
    """``inventories/rollouts/`` (beside group_data/ and host_data/)."""
    return Path(registry_file).resolve().parent.parent / ROLLOUTS_DIR


def read_states(checked: CheckedInventory) -> dict[str, dict[str, Any]]:
    directory = rollouts_dir(checked.registry.path)
    states = {}
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and isinstance(state.get("model"), str):
            states[state["model"]] = state
    return states


def pending_hosts(checked: CheckedInventory) -> dict[str, str]:
    """host -> "pending in wave N of MODEL VERSION" for rollouts in progress."""
    pending: dict[str, str] = {}
    for model, state in read_states(checked).items():
        if state.get("stage") in ("done", "stopped", "undone"):
            continue
        reached = set(state.get("passed", [])) | set(state.get("failed", {}))
        for index, wave in enumerate(state.get("waves", []), 1):
            for host in wave:
                if host not in reached:
                    pending.setdefault(
                        host,
                        f"{model} {state.get('version')}: wave {index} of {len(state['waves'])}",
                    )
    return pending
