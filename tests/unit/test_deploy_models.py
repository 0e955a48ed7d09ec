"""The model deploy of one host (sentinelcam_models.fleet.deploy), as pyinfra tests its operations:
fixtures of facts in (tests/unit/deploy_models/*.json: the inventory, the run's pre-flight and what
the node reports), the operations and their commands out. No host, no root.

A fixture's expected command lists only the inputs it names (a shipped script's body and a
config's full text are covered by tests/unit/test_scripts.py and test_configs_spec.py); every
operation the deploy adds must be listed, in order.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from facts.keys import FileText
from facts.node import NodeState as NodeStateFact
from sentinelcam_models.core.configs import render, sentinel_task_files
from sentinelcam_models.core.nodestate import InstalledVersion, NodeState, ServiceState
from sentinelcam_models.core.registry import parse_registry
from sentinelcam_models.core.validation import CheckedInventory, check_inventory
from sentinelcam_models.fleet.deploy import deploy_models
from sentinelcam_models.fleet.preflight import Datasink, RunContext, host_context
from tests.support.deploys import run_deploy
from tests.support.units import REGISTRY, host

FIXTURES = Path(__file__).with_name("deploy_models")
DIGEST = "d" * 64


def inventory(fixture: dict) -> CheckedInventory:
    text = REGISTRY.read_text(encoding="utf-8")
    for old, new in fixture.get("registry_replace", []):
        assert old in text, old
        text = text.replace(old, new)
    registry, problems = parse_registry(str(REGISTRY), text)
    assert registry is not None and not problems, problems
    hosts = [host(name, *h["groups"], **h.get("data", {})) for name, h in fixture["hosts"].items()]
    checked = check_inventory(registry, [], hosts, "inv.py")
    assert isinstance(checked, CheckedInventory), checked
    return checked


def context(fixture: dict, checked: CheckedInventory) -> RunContext:
    """The run's pre-flight as _build makes it, with the store's answers the fixture gives."""
    ctx = host_context(checked, fixture.get("selected", [fixture["host"]]))
    ctx.digests = {key: DIGEST for plan in checked.plans.values() for key in plan.wanted}
    ctx.datasinks = {
        name: Datasink(name, source, port, window)
        for name, (source, port, window) in fixture["datasinks"].items()
    }
    ctx.coral_refused = dict(fixture.get("coral_refused", {}))
    return ctx


def rendered(checked: CheckedInventory, name: str) -> dict[str, str]:
    """The sentinel task files as a deploy of ``checked`` writes them."""
    from sentinelcam_models.paths import template_text  # noqa: PLC0415

    settings, plan = checked.settings[name], checked.plans[name]
    return {
        f.dest: render(template_text(f.template), f.values)
        for f in sentinel_task_files(settings, plan, checked.registry)
    }


def node_state(fixture: dict) -> NodeState:
    """The node's report: ``installed`` {models path: {model: [versions]}} (complete, with the
    store's digest), ``configs`` {path: text}, ``configs_as``: the task files a deploy of these host
    data wrote (host data over the fixture host's), ``services``, ``coral``, ``health``."""
    node = fixture["node"]
    installed = {
        path: {
            model: {version: InstalledVersion(DIGEST, True) for version in versions}
            for model, versions in models.items()
        }
        for path, models in node.get("installed", {}).items()
    }
    configs: dict[str, str | None] = {}
    if "configs_as" in node:
        name = fixture["host"]
        as_then = json.loads(json.dumps(fixture))
        as_then["hosts"][name].setdefault("data", {}).update(node["configs_as"])
        configs.update(rendered(inventory(as_then), name))
    configs.update(node.get("configs", {}))
    return NodeState(
        installed=MappingProxyType(installed),
        configs=MappingProxyType(configs),
        services=MappingProxyType(
            {name: ServiceState(active, 0) for name, active in node.get("services", {}).items()}
        ),
        health=node.get("health"),
        login="ops",
        coral=node.get("coral"),
    )


def matches(expected: Any, got: Any) -> bool:
    """``got`` has what ``expected`` names: dicts by the keys given, lists item by item."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(
            k in got and matches(v, got[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(matches(e, g) for e, g in zip(expected, got, strict=True))
        )
    return expected == got


def deploy(fixture: dict) -> tuple[list[dict], list[tuple[str, dict]]]:
    """(operations, facts asked) of the fixture host's deploy."""
    checked = inventory(fixture)
    ctx = context(fixture, checked)
    node = node_state(fixture)
    files = fixture.get("files", {})
    asked: list[tuple[str, dict]] = []

    def facts(cls: type, kwargs: dict) -> Any:
        asked.append((cls.__name__, kwargs))
        if cls is NodeStateFact:
            return node
        if cls is FileText:
            return files.get(kwargs["path"])
        raise AssertionError(f"unexpected fact {cls.__name__}")

    return run_deploy(deploy_models, fixture["host"], facts, None, ctx), asked


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_deploy_fixture(name):
    fixture = load(name)
    operations, _ = deploy(fixture)
    expected = fixture["operations"]
    assert [op["name"] for op in operations] == [op["name"] for op in expected], json.dumps(
        operations, indent=1, default=str
    )[:4000]
    for want, got in zip(expected, operations, strict=True):
        assert matches(want, got), json.dumps([want, got], indent=1, default=str)[:4000]


def test_the_node_is_asked_once_as_the_service_user_for_what_its_plan_names():
    fixture = load("pin.json")
    fixture["hosts"]["s1"]["data"]["ssh_user"] = "pi"  # logs in as another account
    _, asked = deploy(fixture)
    [(fact, kwargs)] = asked
    assert fact == "NodeState"
    assert kwargs["_sudo"] is True and kwargs["_sudo_user"] == "ops"
    assert kwargs["roots"] == ["/home/ops/sentinel/models"]
    assert "/home/ops/sentinel/tasks/FaceRecon.yaml" in kwargs["configs"]
    assert kwargs["owned"] == ["facelist.csv", "facedata.hdf5"]  # the spec's node-owned files


def test_a_failed_gate_puts_back_the_bytes_the_node_had_and_restarts_only_what_it_switched():
    fixture = load("outpost-switch-gated.json")
    operations, _ = deploy(fixture)
    [gate] = [op for op in operations if op["name"] == "Health gate"]
    [command] = gate["commands"]
    [revert] = command["argument"]["revert"]
    old = fixture["node"]["configs"]["/home/ops/imagenode.yaml"]
    assert base64.b64decode(revert["text"]).decode() == old
    assert revert["restarts"] == "imagenode"
    [restart] = [op for op in operations if op["name"].startswith("Restart")]
    # the gate judges a service that will not start: its restart may fail without stopping the host
    assert restart["_ignore_errors"] is True and restart["_if"] is True


def test_a_restart_the_gate_does_not_check_is_not_left_to_it():
    # A new Coral sentinel without probes: the Coral runtime restarts the sentinel, which its gate
    # (no config restarts it) does not check. That restart failing must fail the host, not be
    # ignored ahead of a record saying "passed, no restarted service".
    operations, _ = deploy(load("coral-first-deploy-unprobed.json"))
    [gate] = [op for op in operations if op["name"] == "Health gate"]
    assert gate["commands"][0]["argument"]["services"] == []
    [restart] = [op for op in operations if op["name"].startswith("Restart")]
    assert not restart.get("_ignore_errors") and restart["_if"] is True


def test_the_task_files_are_one_operation_that_writes_only_the_changed_files():
    operations, _ = deploy(load("pin.json"))
    [tasks] = [op for op in operations if op["name"].startswith("Config ")]
    [command] = tasks["commands"]
    assert [block.get("dest", block["script"]) for block in command] == [
        "/home/ops/sentinel/tasks/FaceRecon.yaml",
        "/home/ops/sentinel/tasks/FaceSweep.yaml",
        "/home/ops/sentinel/tasks/FaceDataUpdate.yaml",
        "config_commit.sh",  # one check and rename of them all
    ]


def test_the_first_host_asks_every_connected_host_at_once_and_each_takes_its_own_answer():
    """pyinfra prepares hosts one after another: the node states are asked together, once."""
    from pyinfra.api import Config, Inventory, State  # noqa: PLC0415

    from sentinelcam_models.fleet.deploy import node_state  # noqa: PLC0415

    fixture = load("pin.json")
    fixture["hosts"]["s2"] = json.loads(json.dumps(fixture["hosts"]["s1"]))
    fixture["hosts"]["s3"] = json.loads(json.dumps(fixture["hosts"]["s1"]))
    checked = inventory(fixture)
    ctx = context({**fixture, "selected": ["s1", "s2", "s3"]}, checked)
    pyinfra = Inventory(([(n, {"ssh_user": "ops"}) for n in ("s1", "s2", "s3")], {}))
    State(pyinfra, Config())
    asked: list[str] = []

    def facts_of(name: str):
        def get_fact(cls, *args, **kwargs):
            asked.append(name)
            if name == "s3":
                raise OSError("s3 dropped the connection")
            return NodeState(login=name)

        return get_fact

    hosts = {n: pyinfra.get_host(n) for n in ("s1", "s2", "s3")}
    for name, h in hosts.items():
        h.get_fact = facts_of(name)
        h.connected = True
    assert node_state(hosts["s1"], ctx).login == "s1"
    assert sorted(asked) == ["s1", "s2", "s3"]  # all at once, by the first host
    assert node_state(hosts["s2"], ctx).login == "s2"  # its own answer, not asked again
    with pytest.raises(OSError, match="s3 dropped"):
        node_state(hosts["s3"], ctx)  # the error is that host's alone
    assert sorted(asked) == ["s1", "s2", "s3"]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_the_deploy_does_not_depend_on_service_states_or_the_health_record(name):
    # The deploy's node-state question leaves them out (drift reports them): whatever they
    # would say, every host gets the same operations.
    fixture = load(name)
    expected, _ = deploy(fixture)
    for services, health in [
        ({}, None),
        (dict.fromkeys(("sentinel", "imagenode", "datapump"), "failed"), {"status": "failed"}),
    ]:
        changed = json.loads(json.dumps(fixture))
        changed["node"]["services"], changed["node"]["health"] = services, health
        operations, _ = deploy(changed)
        assert operations == expected
