"""The pre-flight's round trips (issue 22.8): it asks the selected hosts' node states while it
reaches the store (each host's deploy takes its own answer without asking again; a refused run
stops asking), and it checks the store and updates the served roots in one agent run, which
serves nothing when the check finds a problem."""

from __future__ import annotations

import shutil
from types import SimpleNamespace
from typing import ClassVar

import pytest

from sentinelcam_models.core.nodestate import NodeState
from sentinelcam_models.fleet import deploy, preflight
from sentinelcam_models.fleet.inventory import load_pyinfra_inventory
from sentinelcam_models.fleet.query import fact_arguments
from tests.support.units import ROOT


class FakeStore:
    """The primary's store; ``check`` answers every version present, or missing with ``missing``.
    ``trips`` lists the commands of each agent run."""

    missing = False
    trips: ClassVar[list[list[str]]] = []

    def __init__(self, host, settings):
        self.where = f"{settings.name}:/store"

    def _run(self, command, arguments):
        if command == "check":
            if FakeStore.missing:
                return {}
            return {item: {"digest": "0" * 64, "problems": []} for item in arguments["wanted"]}
        return {}

    def call(self, command, **arguments):
        FakeStore.trips.append([command])
        return self._run(command, arguments)

    def batch(self, calls, after_sound_check):
        assert after_sound_check
        FakeStore.trips.append([])
        answers = []
        for command, arguments in calls:
            FakeStore.trips[-1].append(command)
            answers.append(self._run(command, arguments))
            if command == "check" and FakeStore.missing:
                break  # as the agent does after a check that found a problem
        return answers


ASKED_WITH: dict[str, dict] = {}  # host -> the NodeState fact's arguments


@pytest.fixture
def inventory(tmp_path, monkeypatch):
    shutil.copytree(
        ROOT / "inventories", tmp_path / "inventories", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.setattr(preflight, "RemoteStore", FakeStore)
    monkeypatch.setattr(preflight, "_max_startups", lambda host: 10)
    monkeypatch.setattr(FakeStore, "missing", False)
    monkeypatch.setattr(FakeStore, "trips", [])
    inventory = load_pyinfra_inventory(tmp_path / "inventories" / "production.py", None)
    asked: list[str] = []
    for h in inventory:

        def get_fact(cls, *args, _name=h.name, **kwargs):
            asked.append(_name)
            ASKED_WITH[_name] = kwargs
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


def test_the_deploy_asks_no_service_state_or_health_record(inventory):
    # What the deploy decides from: versions, configs, face lists, the Coral runtime. The
    # services' states and the last health record are drift's; each service state is one
    # systemctl per node, a sixth of the node's answer, at every deploy.
    inventory, _asked = inventory
    ASKED_WITH.clear()
    ctx = preflight._build(SimpleNamespace(limit_hosts=None), inventory, dry=True)
    ctx.asking.answers()
    assert set(ASKED_WITH) == {h.name for h in inventory}
    drift = {name: fact_arguments(ctx.checked, name, False, with_coral=True) for name in ASKED_WITH}
    assert any(d["services"] for d in drift.values())  # drift asks them
    for name, arguments in ASKED_WITH.items():
        assert arguments["services"] == [] and arguments["health"] == ""
        for key in set(drift[name]) - {"services", "health"}:  # the rest as drift asks it
            assert arguments[key] == drift[name][key], (name, key)


def test_a_refused_run_stops_asking_its_nodes(inventory):
    inventory, asked = inventory
    FakeStore.missing = True  # every version "not in the store": the whole run is refused
    state = SimpleNamespace(limit_hosts=None)
    with pytest.raises(Exception, match="deploy refused"):
        preflight._build(state, inventory, dry=True)
    import gevent  # noqa: PLC0415

    gevent.sleep(0)  # a cancelled question never runs
    assert asked == []


def test_a_real_run_checks_the_store_and_serves_the_roots_in_one_round_trip(inventory):
    inventory, _ = inventory
    preflight._build(SimpleNamespace(limit_hosts=None), inventory, dry=False)
    assert FakeStore.trips[0] == ["check", "serve"]
    assert ["serve"] not in FakeStore.trips  # not served again on its own


def test_a_refused_run_serves_nothing(inventory):
    inventory, _ = inventory
    FakeStore.missing = True
    with pytest.raises(Exception, match="not in the store"):
        preflight._build(SimpleNamespace(limit_hosts=None), inventory, dry=False)
    assert FakeStore.trips == [["check"]]
