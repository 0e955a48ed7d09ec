"""The operator's own public keys, read on this machine: the trust deploy never revokes a line that
authorizes one of them, even when a node holds a copy (it would lock the operator out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.trust import public_key

MAX_BYTES = 16_384  # a public key file is one line


def _read_key(path: Path) -> tuple[str, str] | None:
    try:
        with path.open("rb") as f:
            text = f.read(MAX_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    return public_key(text)


def operator_keys(inventory: Any, home: Path | None = None) -> list[tuple[str, str]]:
    """The ``.pub`` of every host's ``ssh_key`` and every ``~/.ssh/*.pub`` of this machine."""
    paths = {Path(f"{h.data.get('ssh_key')}.pub") for h in inventory if h.data.get("ssh_key")}
    ssh = (home or Path.home()) / ".ssh"
    paths |= set(ssh.glob("*.pub")) if ssh.is_dir() else set()
    return sorted({key for path in paths if (key := _read_key(path)) is not None})
