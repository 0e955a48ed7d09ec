"""The action log: one JSON line per registry change, appended, for "who changed what when"."""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
from pathlib import Path
from typing import Any


def action_log_path() -> Path:
    """``$SENTINELCAM_ACTION_LOG``, else ``$XDG_STATE_HOME/sentinelcam-models/model_deployment.log``."""
    explicit = os.environ.get("SENTINELCAM_ACTION_LOG")
    if explicit:
        return Path(explicit)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "sentinelcam-models" / "model_deployment.log"


def log_action(action: str, outcome: str, **details: Any) -> None:
    path = action_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "user": getpass.getuser(),
        "action": action,
        "outcome": outcome,
        **details,
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, default=str) + "\n")
