"""Per-host data files kept beside an inventory: ``host_data/<host>.yaml`` (pins live there).

Inventories call ``host_data(__file__, name)`` to merge a host's file into its data, so the pins
`sentinelcam-models pin` writes are what pyinfra and every command read.
"""

from __future__ import annotations

from pathlib import Path

import yaml

HOST_DATA_DIR = "host_data"


def host_data_file(inventory_file: str | Path, host: str) -> Path:
    return Path(inventory_file).resolve().parent / HOST_DATA_DIR / f"{host}.yaml"


def host_data(inventory_file: str | Path, host: str) -> dict:
    path = host_data_file(inventory_file, host)
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a mapping (e.g. model_version_overrides: {{...}})")
    return data
