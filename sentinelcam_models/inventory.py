"""Read a pyinfra inventory file the way the pyinfra CLI does (group_data included)."""

from __future__ import annotations

import os
from pathlib import Path

from .plan import HostInfo
from .problems import OperatorError
from .registry import DEFAULT_INVENTORY, registry_file_for


def default_inventory() -> Path:
    return Path(os.environ.get("SENTINELCAM_INVENTORY", DEFAULT_INVENTORY))


def load_pyinfra_inventory(path: str | Path, override_data: dict | None = None):
    """A ``pyinfra.api.Inventory`` built by pyinfra's own file loader."""
    path = Path(path)
    if not path.is_file():
        raise OperatorError(f"{path}: inventory file not found", exit_code=2)
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory_from_files  # patches gevent: import late

    try:
        with ctx_state.use(State()):
            return make_inventory_from_files(str(path), override_data, cwd=str(path.resolve().parent))
    except Exception as exc:  # user code in inventory files raises anything
        cause = getattr(exc, "e", exc)
        raise OperatorError(f"{path}: cannot load inventory: {cause}", exit_code=2) from exc


def host_infos(inventory) -> list[HostInfo]:
    return [
        HostInfo(host.name, tuple(host.groups), host.data.dict())
        for host in inventory
    ]


def load_hosts(path: str | Path) -> tuple[list[HostInfo], Path]:
    """The inventory's hosts and the registry file it reads."""
    inventory = load_pyinfra_inventory(path)
    return host_infos(inventory), registry_file_for(path)
