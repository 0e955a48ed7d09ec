"""`sentinelcam-models drift` against the local fleet: ok, drift, missing, corrupt, unreachable."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devfleet import fleet as fleet_mod
from devfleet.site import Site

pytestmark = pytest.mark.fleet

SENTINEL_MODELS = "/home/ops/sentinel/models"


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("drift"))
    s.setup()
    first = s.deploy()
    assert first.returncode == 0, first.output
    return s


def drift(site, *args):
    run = site.cli("drift", "--json", *args)
    return run.returncode, json.loads(run.stdout)


def rows(doc, host):
    return {row["model"]: row for h in doc["hosts"] if h["host"] == host for row in h["models"]}


def test_after_deploy_everything_is_ok(site, tmp_path):
    code, doc = drift(site, "--prometheus", str(tmp_path / "drift.prom"))
    assert code == 0
    assert doc["summary"]["ok"] > 0 and sum(doc["summary"].values()) == doc["summary"]["ok"]
    assert {h["host"] for h in doc["hosts"]} == set(site.fleet.names()) - {"data1"}
    assert all(
        h["gate"]["status"] == "passed"
        for h in doc["hosts"]
        if "sentinels" in site.fleet.node(h["host"])["groups"]
    )
    sentinels = [h for h in doc["hosts"] if "sentinels" in site.fleet.node(h["host"])["groups"]]
    assert sentinels and all(
        h["accelerators"]["status"] == "ok" and h["accelerators"]["engines"]["Alpha"] == "cpu"
        for h in sentinels
    )
    families = {
        f.name: f for f in text_string_to_metric_families((tmp_path / "drift.prom").read_text())
    }
    ok = [s for s in families["sentinelcam_model_status"].samples if s.labels["status"] == "ok"]
    assert ok and all(s.value == 1 for s in ok)
    table = site.cli("drift")
    summary = table.stdout.splitlines()[0]  # the summary first; statuses at 0 are left out
    assert table.returncode == 0 and " models: ok " in summary and "drift" not in summary


def test_pin_changed_but_not_deployed_shows_drift_on_that_host_only(site):
    host = site.fleet.names("sentinels")[0]
    site.pin(host, "face_recognition", "2025-02-25")
    try:
        code, doc = drift(site)
    finally:
        site.unpin(host)
    assert code == 1
    row = rows(doc, host)["face_recognition"]
    assert (row["status"], row["desired"], row["pinned"], row["active"]) == (
        "drift",
        "2025-02-25",
        True,
        ["2026-02-02"],
    )
    other = site.fleet.names("sentinels")[1]
    assert rows(doc, other)["face_recognition"]["status"] == "ok"


def test_deleted_version_directory_is_missing(site):
    host = site.fleet.names("sentinels")[1]
    site.fleet.ssh(host, f"mv {SENTINEL_MODELS}/haarcascades/2020-03-25 /home/ops/haar.bak")
    try:
        code, doc = drift(site, "--limit", host)
    finally:
        site.fleet.ssh(host, f"mv /home/ops/haar.bak {SENTINEL_MODELS}/haarcascades/2020-03-25")
    assert code == 1
    assert [h["host"] for h in doc["hosts"]] == [host]
    assert rows(doc, host)["haarcascades"]["status"] == "missing"


def test_flipped_byte_is_corrupt_only_with_deep(site):
    host = site.fleet.names("sentinels")[0]
    path = f"{SENTINEL_MODELS}/openface_torch/2020-03-25/openface_nn4.small2.v1.t7"
    flip = (
        f"python3 -c \"f = open('{path}', 'r+b'); f.seek(10); b = f.read(1)[0]; "
        f'f.seek(10); f.write(bytes([b ^ 1]))"'
    )
    site.fleet.ssh(host, flip)
    try:
        code, plain = drift(site, "--model", "openface_torch")
        assert code == 0 and rows(plain, host)["openface_torch"]["status"] == "ok"
        code, deep = drift(site, "--deep", "--model", "openface_torch")
        assert code == 1
        assert rows(deep, host)["openface_torch"]["status"] == "corrupt"
        assert set(rows(deep, host)) == {"openface_torch"}
    finally:
        site.fleet.ssh(host, flip)  # flip it back
    code, deep = drift(site, "--deep")
    assert code == 0


def test_curated_face_files_show_as_node_modified(site):
    host = site.fleet.names("sentinels")[0]
    site.fleet.ssh(
        host, f"echo curated >> {SENTINEL_MODELS}/face_recognition/2026-02-02/facelist.csv"
    )
    code, doc = drift(site, "--limit", host)
    row = rows(doc, host)["face_recognition"]
    assert row["node_modified"] == ["facelist.csv (2026-02-02)"] and row["status"] == "ok"
    assert code == 0  # curating is what the sentinel does: reported, not a failure
    table = site.cli("drift", "--limit", host)
    assert "facelist.csv (2026-02-02)" in table.output


def test_stopped_node_is_unreachable_and_others_still_reported(site):
    host = site.fleet.names("outposts")[0]
    fleet_mod.stop_node_processes([host])
    try:
        code, doc = drift(site)
        assert code == 2
        by_host = {h["host"]: h for h in doc["hosts"]}
        assert by_host[host]["reachable"] is False
        assert {r["status"] for r in by_host[host]["models"]} == {"unreachable"}
        assert all(h["reachable"] for name, h in by_host.items() if name != host)
        assert doc["summary"]["ok"] > 0
    finally:
        site.fleet.reset()
