"""Issue 23 on the local fleet: whatever one host answers can only fail that host.

One sentinel's service account writes a deeply nested ``~/.sentinelcam/health.json`` (once a
``RecursionError`` that aborted every fleet-wide deploy and drift), and the Coral outpost's
virtualenv python prints text that once became a duplicate-key record (an ``AttributeError`` for
the whole fleet). A fleet-wide deploy still deploys every other host and refuses the Coral outpost
alone, naming it; ``drift`` reports every host, the outpost as ``error`` with the reason.
"""

from __future__ import annotations

import json

import pytest

from devfleet.site import Site

pytestmark = pytest.mark.fleet

CORAL_OUTPOST = "alpha5"  # a Coral camera (imagenode.yaml), logs in as ops
HOSTILE_PYTHON = (
    "#!/bin/sh\n"
    'printf \'%s\\n\' \'{"tflite_runtime": "2.17.1", "pycoral": "2.0.3"}, "x": {"a": 1}\''
    " '\\033]0;pwned\\007'\n"
)


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("hostile"))
    s.set_data(CORAL_OUTPOST, imagenode_accelerator_type="coral")
    s.setup()
    s.deploy()  # the Coral outpost is refused (the registry's Coral digests are unset): fine
    s.victim = s.fleet.names("sentinels")[0]
    s.pinned = s.fleet.names("sentinels")[1]
    s.fleet.ssh(
        s.victim,
        "mkdir -p ~/.sentinelcam && "
        'python3 -c \'print("[" * 20000 + "]" * 20000)\' > ~/.sentinelcam/health.json',
    )
    script = HOSTILE_PYTHON.replace("'", "'\\''")
    s.fleet.ssh(
        CORAL_OUTPOST,
        f"mkdir -p ~/.opencv/bin && printf '%s' '{script}' > ~/.opencv/bin/python"
        " && chmod 755 ~/.opencv/bin/python",
    )
    return s


def test_a_fleet_wide_deploy_goes_on_for_every_other_host(site):
    site.pin(site.pinned, "face_recognition", "2025-02-25")
    try:
        run = site.deploy()
        assert run.returncode != 0, run.output  # the Coral outpost failed, and says so
        assert "Traceback" not in run.output and "RecursionError" not in run.output, run.output
        assert "Node state refused" in run.output and CORAL_OUTPOST in run.output
        assert "\x1b]0;pwned" not in run.output
        # The other hosts deployed: the pin reached its host, the hostile health record's host
        # (only its record is ignored) runs the registry's version.
        assert "face_recognition/2025-02-25/facemodel.pickle" in site.config(
            site.pinned, "/home/ops/sentinel/tasks/FaceRecon.yaml"
        )
        assert "face_recognition/2026-02-02/facemodel.pickle" in site.config(
            site.victim, "/home/ops/sentinel/tasks/FaceRecon.yaml"
        )
    finally:
        site.unpin(site.pinned)


def test_drift_reports_every_host_and_the_coral_outpost_as_error(site):
    run = site.cli("drift", "--json")
    assert "Traceback" not in run.output, run.output
    doc = json.loads(run.stdout)
    by_host = {h["host"]: h for h in doc["hosts"]}
    assert set(by_host) == set(site.fleet.names()) - {"data1"}
    outpost = by_host[CORAL_OUTPOST]
    assert {r["status"] for r in outpost["models"]} == {"error"}
    assert ".opencv" in outpost["error"] and "\x1b" not in outpost["error"]
    assert by_host[site.victim]["reachable"] is True
    assert all(h["reachable"] for name, h in by_host.items() if name != CORAL_OUTPOST)
    table = site.cli("drift")
    assert "error" in table.output and "\x1b]0;pwned" not in table.output
