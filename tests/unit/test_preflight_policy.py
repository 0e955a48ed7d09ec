"""The deploy's pre-flight writes the retention policy unless the command that started the deploy
wrote it already (--data sentinelcam_policy_written=yes, or a command's in-process redeploy says so
in preflight.Given): once per command."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from sentinelcam_models.fleet import preflight
from sentinelcam_models.fleet.inventory import load_pyinfra_inventory
from tests.support.units import ROOT


class FakeStore:
    def __init__(self, host, settings):
        self.where = f"{settings.name}:/store"
        self.calls: list[str] = []
        FakeStore.last = self

    def call(self, command, **arguments):
        self.calls.append(command)
        if command == "check":
            return {item: {"digest": "0" * 64, "problems": []} for item in arguments["wanted"]}
        return {}


@pytest.fixture
def inventory_file(tmp_path):
    shutil.copytree(
        ROOT / "inventories", tmp_path / "inventories", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path / "inventories" / "production.py"


@pytest.mark.parametrize("written, writes", [(None, 1), ("yes", 0)])
def test_the_pre_flight_writes_the_policy_only_when_no_one_did(
    inventory_file, monkeypatch, written, writes
):
    monkeypatch.setattr(preflight, "RemoteStore", FakeStore)
    monkeypatch.setattr(preflight, "_max_startups", lambda host: 10)
    data = {preflight.POLICY_WRITTEN: written} if written else None
    inventory = load_pyinfra_inventory(inventory_file, data)
    state = SimpleNamespace(limit_hosts=[inventory.get_host("sentinel")])  # --limit sentinel
    ctx = preflight._build(state, inventory, dry=False)
    assert ctx.selected == ("sentinel",)
    assert FakeStore.last.calls.count("write_policy") == writes
    assert FakeStore.last.calls.count("check") == 1


@pytest.mark.parametrize("written, writes", [(False, 1), (True, 0)])
def test_a_command_hands_its_checked_inventory_and_store_to_the_pre_flight(
    inventory_file, monkeypatch, written, writes
):
    """A redeploy in the command's process (fleet/pyinfrarun.py): the pre-flight neither checks the
    inventory again nor opens a store connection of its own."""
    from sentinelcam_models.fleet.inventory import check_pyinfra  # noqa: PLC0415

    inventory = load_pyinfra_inventory(inventory_file)
    checked = check_pyinfra(inventory)
    given_store = FakeStore(None, checked.settings[checked.primary])
    monkeypatch.setattr(preflight, "RemoteStore", lambda *a: pytest.fail("a second store"))
    monkeypatch.setattr(preflight, "check_pyinfra", lambda *a: pytest.fail("a second check"))
    monkeypatch.setattr(preflight, "_max_startups", lambda host: 10)
    state = SimpleNamespace(limit_hosts=[inventory.get_host("sentinel")])
    with preflight.handed_over(state, preflight.Given(checked, given_store, written)):
        ctx = preflight.context(state, inventory)
    assert ctx.checked is checked and ctx.selected == ("sentinel",)
    assert given_store.calls.count("check") == 1
    assert given_store.calls.count("write_policy") == writes
    assert "serve" in given_store.calls  # not a dry run: the served roots are updated
