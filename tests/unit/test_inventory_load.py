"""Loading an inventory (fleet/inventory.load_pyinfra_inventory): pyinfra's own loader, with the
answers it asks for again and again within one load (its connectors; the names a group data file
imports) asked once. Every command loads the inventory, and the unit tests load it hundreds of
times."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys

import pyinfra.api.connectors as connectors
import pyinfra_cli.inventory as cli_inventory
import pytest
from pyinfra.api import State
from pyinfra.context import ctx_state

from sentinelcam_models.fleet.inventory import load_pyinfra_inventory
from tests.support.units import ROOT


@pytest.fixture
def inventory_dir(tmp_path):
    shutil.copytree(
        ROOT / "inventories", tmp_path / "inventories", ignore=shutil.ignore_patterns("__pycache__")
    )
    # An import in group data stays out of the hosts' data, as pyinfra keeps it out (its #1297).
    all_py = tmp_path / "inventories" / "group_data" / "all.py"
    all_py.write_text("import os.path\nfrom os import sep as _sep, getcwd\n" + all_py.read_text())
    return tmp_path / "inventories"


def as_pyinfra_loads(path):
    """The inventory as pyinfra's loader makes it, nothing cached."""
    with ctx_state.use(State()):
        return cli_inventory.make_inventory_from_files(str(path), None, cwd=str(path.parent))


def contents(inventory) -> list:
    return [(h.name, sorted(h.groups), h.data.dict()) for h in inventory]


def test_a_load_gives_what_pyinfras_loader_gives(inventory_dir):
    path = inventory_dir / "production.py"
    loaded = contents(load_pyinfra_inventory(path))
    assert loaded == contents(as_pyinfra_loads(path))
    data = dict(loaded[0][2])
    assert "os" not in data and "getcwd" not in data  # the imported names stay out
    assert data["model_registry_file"]  # and the group data is there


def test_a_load_asks_for_the_connectors_once_and_parses_each_group_data_file_once(
    inventory_dir, monkeypatch
):
    lookups, parses = [], []
    entry_points, imported_names = connectors.entry_points, cli_inventory._get_imported_names

    def counting_entry_points(**kwargs):
        lookups.append(kwargs)
        return entry_points(**kwargs)

    def counting_imported_names(filename):
        parses.append(filename)
        return imported_names(filename)

    monkeypatch.setattr(connectors, "entry_points", counting_entry_points)
    monkeypatch.setattr(cli_inventory, "_get_imported_names", counting_imported_names)
    path = inventory_dir / "production.py"

    as_pyinfra_loads(path)  # what the loader asks without the caches
    assert len(lookups) > 1 and len(parses) > len(set(parses))
    lookups.clear()
    parses.clear()

    load_pyinfra_inventory(path)
    assert lookups == [{"group": "pyinfra.connectors"}]
    assert sorted(parses) == sorted(set(parses)) and parses

    # Afterwards pyinfra's own functions are back: nothing is cached across loads.
    assert cli_inventory._get_imported_names is counting_imported_names
    assert connectors.get_all_connectors.__name__ == "get_all_connectors"
    assert not hasattr(connectors.get_all_connectors, "cache_info")


def test_the_entry_points_it_caches_are_pyinfras_connectors():
    # What the cache stands in for: pyinfra finds its connectors in the installed entry points.
    names = {e.name for e in importlib.metadata.entry_points(group="pyinfra.connectors")}
    assert "ssh" in names and set(connectors.get_all_connectors()) == names


def test_loads_that_overlap_leave_pyinfras_own_functions_in_place():
    # Two loads in two greenlets may overlap, the first ending first: the outermost patches
    # and puts back, so nothing memoized outlives them.
    from sentinelcam_models.fleet.inventory import _answers_once_per_load  # noqa: PLC0415

    originals = (connectors.get_all_connectors, cli_inventory._get_imported_names)
    first, second = _answers_once_per_load(), _answers_once_per_load()
    first.__enter__()
    assert connectors.get_all_connectors is not originals[0]  # memoized while it runs
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert (connectors.get_all_connectors, cli_inventory._get_imported_names) == originals


FIRST_LOAD = """
import importlib.metadata as metadata, json, sys
reads, plugins = [], []
read, load = metadata.distributions, metadata.EntryPoint.load
def counting(*args, **kwargs):
    reads.append(args)
    return read(*args, **kwargs)
def loading(self):
    plugins.append(self.value)
    return load(self)
metadata.distributions, metadata.EntryPoint.load = counting, loading
entry_points = metadata.entry_points
assert "pyinfra_cli" not in sys.modules
if sys.argv[1] == "ours":
    from sentinelcam_models.fleet.inventory import patch_for_gevent
    patch_for_gevent()
else:
    import pyinfra_cli
from gevent import monkey
print(json.dumps({
    "reads": len(reads),
    "plugins": plugins,
    "patched": all(monkey.is_module_patched(m) for m in ("threading", "socket", "ssl")),
    "restored": metadata.entry_points is entry_points,
}))
"""


def first_load(how: str) -> dict:
    probe = subprocess.run(
        [sys.executable, "-c", FIRST_LOAD, how],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(probe.stdout)


def test_the_gevent_patch_reads_the_installed_entry_points_once_and_puts_importlib_back():
    # Fresh interpreters: this one imported pyinfra_cli long ago. gevent announces each of its
    # patch steps to the plugins of every installed distribution, reading them all each time.
    ours, plain = first_load("ours"), first_load("plain")
    assert plain["reads"] > 1 and ours["reads"] == 1
    assert ours["plugins"] == plain["plugins"] and ours["plugins"]  # the same plugins called
    assert ours["patched"] and ours["restored"]
