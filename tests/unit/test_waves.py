"""Staged rollouts, the pure part (core/waves.py): wave specs, the split of hosts into waves, the
recorded state, and the hosts drift shows as pending."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinelcam_models.core import waves
from sentinelcam_models.core.problems import BadInput
from sentinelcam_models.fleet import rollouts

HOSTS = [f"h{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100%", (100,)),
        ("25%,100%", (25, 100)),
        (" 10% , 50%,100% ", (10, 50, 100)),
        ("50,100", (50, 100)),
    ],
)
def test_wave_specs(spec, expected):
    assert waves.parse_waves(spec) == expected


@pytest.mark.parametrize(
    "spec", ["", "25%", "50%,25%,100%", "0%,100%", "101%", "25%,25%,100%", "x%,100%", "-5%,100%"]
)
def test_bad_wave_specs_are_refused_naming_the_option(spec):
    with pytest.raises(BadInput, match="--waves"):
        waves.parse_waves(spec)


def test_waves_are_cumulative_shares_of_the_remaining_hosts():
    assert waves.split_waves(HOSTS[:8], (25, 100)) == [HOSTS[:2], HOSTS[2:8]]
    assert waves.split_waves(HOSTS[:3], (10, 50, 100)) == [["h0"], ["h1"], ["h2"]]
    assert waves.split_waves(HOSTS[:2], (10, 20, 100)) == [["h0"], ["h1"]]  # no empty wave
    assert waves.split_waves([], (25, 100)) == []


@given(st.integers(0, 60), st.lists(st.integers(1, 99), unique=True, max_size=4))
def test_every_host_is_in_exactly_one_wave_in_order(n, cuts):
    hosts = [f"h{i}" for i in range(n)]
    spec = (*tuple(sorted(cuts)), 100)
    split = waves.split_waves(hosts, spec)
    assert [h for wave in split for h in wave] == hosts
    assert all(split)
    assert len(split) <= len(spec)


def test_plan_needs_canaries_that_run_the_model():
    users = ["s1", "s2", "o1", "o2"]
    r = waves.plan("mobilenet_ssd", "2026-04-01", "2025-01-01", None, users, ["o1"], "50%,100%", 0)
    assert r.canary == ["o1"] and r.waves == [["s1", "s2"], ["o2"]] and r.stage == "canary"
    with pytest.raises(BadInput, match="--canary data1"):
        waves.plan("mobilenet_ssd", "2026-04-01", "2025-01-01", None, users, ["data1"], "100%", 0)
    with pytest.raises(BadInput, match="--canary"):
        waves.plan("mobilenet_ssd", "2026-04-01", "2025-01-01", None, users, [], "100%", 0)


def test_pending_and_reached_hosts_follow_the_recorded_stage():
    users = ["a", "b", "c", "d", "e"]
    r = waves.plan("m", "2026-04-01", "2025-01-01", None, users, ["a"], "50%,100%", 1)
    assert r.waves == [["b", "c"], ["d", "e"]]
    assert r.reached() == ["a"]  # the canary stage
    r.stage, r.passed = "wave-1", ["a"]  # interrupted while wave 1 deployed: b and c may have moved
    assert r.reached() == ["a", "b", "c"] and r.pending() == ["b", "c", "d", "e"]
    r.passed, r.failed = ["a", "b"], {"c": "reverted: probe failed"}
    assert r.pending() == ["d", "e"]
    r.stage = "done"
    assert r.reached() == users


def test_a_recorded_state_reads_back_and_a_forged_one_is_refused():
    r = waves.plan("m", "2026-04-01", "2025-01-01", "2024-01-01", ["a", "b"], ["a"], "100%", 0)
    r.stage = "wave-1"
    again = waves.Rollout.from_json(json.loads(json.dumps(r.to_json())))
    assert again == r and again.wave_index == 0 and again.active
    with pytest.raises(BadInput):
        waves.Rollout.from_json({**r.to_json(), "model": "../etc"})
    with pytest.raises(BadInput):
        waves.Rollout.from_json({**r.to_json(), "surprise": 1})
    with pytest.raises(BadInput):
        waves.Rollout.from_json(["not", "a", "mapping"])


def test_drift_shows_the_hosts_an_active_rollout_has_not_reached_as_pending(tmp_path):
    registry = tmp_path / "inventories" / "group_data" / "model_registry.yaml"
    registry.parent.mkdir(parents=True)
    registry.write_text("")
    r = waves.plan("m", "2026-04-01", "2025-01-01", None, ["a", "b", "c"], ["a"], "50%,100%", 0)
    r.stage, r.passed = "wave-1", ["a"]
    state = rollouts.state_file(registry, "m")
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps(r.to_json()))
    checked = SimpleNamespace(registry=SimpleNamespace(path=str(registry)))
    assert rollouts.pending_hosts(checked) == {
        "b": "m 2026-04-01: wave 1 of 2",
        "c": "m 2026-04-01: wave 2 of 2",
    }
    r.stage = "done"
    state.write_text(json.dumps(r.to_json()))
    assert rollouts.pending_hosts(checked) == {}
