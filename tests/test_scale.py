"""Past the datasink sshd's MaxStartups: 22 nodes pulling at once still converge in one run."""

from __future__ import annotations

import json

import pytest

from devfleet.site import Site
from tests.support.fleet import run_fleet

pytestmark = pytest.mark.fleet

NODES = 22


@pytest.fixture(scope="module")
def big_fleet(fleet):
    size = len(fleet.nodes)
    run_fleet("up", "--nodes", str(NODES))
    fleet.reload()
    try:
        yield fleet
    finally:
        run_fleet("up", "--nodes", str(size))
        fleet.reload()


def test_everyone_pulls_at_once_and_still_converges_in_one_run(big_fleet, tmp_path):
    assert len(big_fleet.nodes) == NODES
    site = Site(big_fleet, tmp_path)
    site.setup()
    # No bound on concurrent pulls: every node hits data1's sshd at the same moment (Debian's
    # MaxStartups 10:30:100 drops some); the jittered retries must absorb it.
    site.set_data("data1", model_pull_concurrency=64)
    run = site.deploy()
    assert run.returncode == 0, run.output[-5000:]
    drift = site.cli("drift", "--json")
    doc = json.loads(drift.stdout)
    assert drift.returncode == 0, doc["summary"]
    assert doc["summary"]["ok"] == sum(doc["summary"].values())
    # The default bound (from data1's sshd: MaxStartups 10 -> 8 at once) converges too, on a new
    # version for every sentinel.
    site.set_data("data1", model_pull_concurrency="auto")
    site.publish("openface_torch", "2026-10-10")
    site.set_current("openface_torch", "2026-10-10", "2020-03-25")
    run = site.deploy()
    assert run.returncode == 0, run.output[-5000:]
    assert "Install models" in run.changed_ops()
