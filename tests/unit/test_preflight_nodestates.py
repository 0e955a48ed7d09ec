"""The pre-flight asks the selected hosts' node states while it reaches the store (issue 22.8): the
store's round trips then cost no time of their own, each host's deploy takes its own answer without
asking again, and a refused run stops asking."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from sentinelcam_models.core.nodestate import NodeState
from sentinelcam_models.fleet import deploy, preflight
from sentinelcam_models.fleet.inventory import load_pyinfra_inventory
from tests.support.units import ROOT


class FakeStore:
    """The primary's store; ``check`` answers every version present, or missing with ``missing``."""

    missing = False

    def __init__(self, host, settings):
        self.where = f"{settings.name}:/store"

    def call(self, command, **arguments):
        if command == "check":
            if FakeStore.missing:
                return {}
            return {item: {"digest": "0" * 64, "problems": []} for item in arguments["wanted"]}
        return {}


@pytest.fixture
def inventory(tmp_path, monkeypatch):
    shutil.copytree(
        ROOT / "inventories", tmp_path / "inventories", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setattr(preflight, "RemoteStore", FakeStore)
    monkeypatch.setattr(preflight, "_max_startups", lambda host: 10)
    monkeypatch.setattr(FakeStore, "missing", False)
    inventory = load_pyinfra_inventory(tmp_path / "inventories" / "production.py", None)
    asked: list[str] = []
    for h in inventory:

        def get_fact(cls, *args, _name=h.name, **kwargs):
            asked.append(_name)
            return NodeState(login=_name)

        h.get_fact = get_fact
        h.connected = True
        h.data.ssh_user = "ops"
    return inventory, asked


def test_the_pre_flight_asks_every_node_once_and_each_deploy_takes_its_own_answer(inventory):
    inventory, asked = inventory
    state = SimpleNamespace(limit_hosts=None)
    ctx = preflight._build(state, inventory, dry=True)
    assert ctx.asking is not None  # asked while the store was reached, not after
    for h in inventory:
        h.state = state
    answers = {h.name: deploy.node_state(h, ctx).login for h in inventory}
    assert answers == {h.name: h.name for h in inventory}
    assert sorted(asked) == sorted(h.name for h in inventory)  # once each


def test_a_refused_run_stops_asking_its_nodes(inventory):
    inventory, asked = inventory
    FakeStore.missing = True  # every version "not in the store": the whole run is refused
    state = SimpleNamespace(limit_hosts=None)
    with pytest.raises(Exception, match="deploy refused"):
        preflight._build(state, inventory, dry=True)
    import gevent  # noqa: PLC0415

    gevent.sleep(0)  # a cancelled question never runs
    assert asked == []
