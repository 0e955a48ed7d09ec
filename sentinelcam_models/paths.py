"""Where the project's own files are: templates, inventories, the default inventory."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = REPO_ROOT / "templates"
DEPLOYS = REPO_ROOT / "deploys"
DEFAULT_INVENTORY = REPO_ROOT / "inventories" / "production.py"
REGISTRY_FILE_NAME = "model_registry.yaml"
HOST_DATA_DIR = "host_data"
INVENTORY_ENV = "SENTINELCAM_INVENTORY"


def default_inventory() -> Path:
    return Path(os.environ.get(INVENTORY_ENV) or DEFAULT_INVENTORY)


def registry_file_for(inventory: str | Path) -> Path:
    """The registry an inventory reads: ``group_data/model_registry.yaml`` beside it."""
    return Path(inventory).resolve().parent / "group_data" / REGISTRY_FILE_NAME


def host_data_file(inventory: str | Path, host: str) -> Path:
    """``host_data/<host>.yaml`` beside the inventory (the caller validates ``host`` first; a name
    that would leave host_data/ is refused here too)."""
    if not host or host.startswith(".") or any(c in host for c in "/\\\0\n"):
        raise ValueError(f"{host!r} is not a host name")
    return Path(inventory).resolve().parent / HOST_DATA_DIR / f"{host}.yaml"


def template_text(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")
