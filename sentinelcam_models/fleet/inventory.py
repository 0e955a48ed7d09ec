"""Load a pyinfra inventory file the way the pyinfra CLI does (group_data included), and validate it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.problems import BadInput, Problem, Refused
from ..core.validation import CheckedInventory, RawHost, check_inventory
from ..paths import registry_file_for
from ..store.files import read_registry
from .userfile import describe


def load_pyinfra_inventory(path: str | Path, override_data: dict | None = None) -> Any:
    """A ``pyinfra.api.Inventory`` built by pyinfra's own file loader."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: inventory file not found")
    patch_for_gevent()
    from pyinfra_cli.inventory import make_inventory_from_files  # noqa: PLC0415, I001

    from pyinfra.api import State  # noqa: PLC0415
    from pyinfra.context import ctx_state  # noqa: PLC0415

    try:
        with ctx_state.use(State()), _answers_once_per_load():
            return make_inventory_from_files(
                str(path), override_data, cwd=str(path.resolve().parent)
            )
    except Exception as exc:  # user code in inventory files raises anything
        raise BadInput(describe(exc, path)) from None


def patch_for_gevent() -> None:
    """Import pyinfra_cli, which patches the standard library for gevent: first, before pyinfra.api
    and paramiko, so that every lock and thread they make is a greenlet's (as under pyinfra).

    gevent's patch announces each of its 25 steps to the plugins of every installed distribution,
    reading all their entry points anew each time: about 30 ms of every command's start. Nothing
    is installed meanwhile, so they are read once; after the import, importlib's own function is
    back (pyinfra's connector lookup, imported later, binds that one)."""
    import sys  # noqa: PLC0415
    from importlib import metadata  # noqa: PLC0415

    with _PATCHING:  # two threads would each save the other's function as importlib's
        if "pyinfra_cli" in sys.modules:
            return
        read = metadata.entry_points
        read_once = functools.cache(read)

        def entry_points(**selection: Any) -> Any:
            return read_once().select(**selection)

        metadata.entry_points = entry_points
        try:
            import pyinfra_cli  # noqa: PLC0415, F401
        finally:
            metadata.entry_points = read


_PATCHING = threading.Lock()  # made before the patch: a real thread lock


# pyinfra 3.10's loader asks for the same two answers again and again within one load: its
# connectors, looked up in every installed distribution's entry points (two inventories a load,
# two lookups each, and one more per host named "@connector"), and the names a group data file
# imports, parsed anew for each key the file defines. Here that was 6 of a load's 9 ms (the
# shipped 6-host inventory; the lookups do not grow with hosts, the parses grow with settings).
# Within one load neither can change, so each is asked once; after it, pyinfra's own functions
# are back. A pyinfra without them loads as it is.
_ONCE_PER_LOAD = (
    ("pyinfra.api.connectors", "get_all_connectors"),
    ("pyinfra.api.inventory", "get_all_connectors"),
    ("pyinfra_cli.inventory", "_get_imported_names"),
)


_loads_running = [0]  # loads in progress (greenlets may overlap): the outermost one patches


@contextmanager
def _answers_once_per_load() -> Iterator[None]:
    import importlib  # noqa: PLC0415

    places = [(importlib.import_module(name), attr) for name, attr in _ONCE_PER_LOAD]
    saved: list[tuple[Any, str, Any]] = [(m, a, getattr(m, a, None)) for m, a in places]
    patch = not _loads_running[0] and all(callable(function) for _, _, function in saved)
    if patch:
        cached: dict[Any, Any] = {}  # one cache per function, shared by the modules importing it
        for module, attr, function in saved:
            setattr(module, attr, cached.setdefault(function, functools.cache(function)))
    _loads_running[0] += 1
    try:
        yield
    finally:
        _loads_running[0] -= 1
        if patch:
            for module, attr, function in saved:
                setattr(module, attr, function)


def raw_hosts(inventory: Any) -> list[RawHost]:
    return [RawHost(host.name, tuple(host.groups), host.data.dict()) for host in inventory]


def check(
    inventory_path: str | Path,
    hosts: list[RawHost],
    registry_path: Path | None = None,
) -> CheckedInventory | Refused:
    registry_path = registry_path or registry_file_for(inventory_path)
    registry, problems, _ = read_registry(registry_path)
    return check_inventory(registry, problems, hosts, str(inventory_path))


def check_pyinfra(inventory: Any, label: str = "inventory") -> CheckedInventory | Refused:
    """Validate the hosts of a pyinfra inventory against the registry its group data names."""
    hosts = raw_hosts(inventory)
    registry_file = next(
        (h.data.get("model_registry_file") for h in hosts if h.data.get("model_registry_file")),
        None,
    )
    if not registry_file:
        return Refused(
            [
                Problem(
                    label, "model_registry_file", "not set (inventories/group_data/all.py sets it)"
                )
            ]
        )
    return check(label, hosts, Path(registry_file))


def load_checked(inventory_path: str | Path) -> tuple[CheckedInventory, Any]:
    """The validated inventory and pyinfra's inventory; raises Refused listing every problem."""
    inventory = load_pyinfra_inventory(inventory_path)
    checked = check(inventory_path, raw_hosts(inventory))
    if isinstance(checked, Refused):
        raise checked
    return checked, inventory
