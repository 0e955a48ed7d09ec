"""Retention on the local fleet: the datasink's weekly cleanup timer, and node-side pruning."""

from __future__ import annotations

import json

import pytest

from devfleet.site import Site

pytestmark = pytest.mark.fleet

STORE = "/home/ops/sentinelcam/model_registry"
OLD = ["2019-01-01", "2019-02-01", "2019-03-01", "2019-04-01", "2019-05-01"]


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("retention"))
    s.setup()
    for version in OLD:
        s.publish("haarcascades", version)
    return s


def run_pyinfra(site, deploy, *args):
    run = site.pyinfra(deploy, *args)
    assert run.returncode == 0, run.output
    return run.output


def test_timer_installed_and_cleanup_keeps_pins_current_previous_and_newest(site):
    pinned_host = site.fleet.names("sentinels")[1]
    site.pin(pinned_host, "haarcascades", "2019-02-01")
    site.set_data("data1", sentinelcam_model_retention=1)
    run_pyinfra(site, "deploys/retention.py")
    timers = site.fleet.ssh("data1", "systemctl list-timers --all --no-pager").stdout
    assert "sentinelcam-model-cleanup.timer" in timers
    assert (
        site.fleet.ssh(
            "data1", "systemctl is-enabled sentinelcam-model-cleanup.timer"
        ).stdout.strip()
        == "enabled"
    )
    unit = site.fleet.ssh("data1", "systemctl cat sentinelcam-model-cleanup.timer").stdout
    assert (
        "OnCalendar=Sun *-*-* 03:00:00" in unit
        and "Persistent=true" in unit
        and "RandomizedDelaySec=30min" in unit
    )
    site.fleet.ssh(
        "data1",
        f"mkdir -p {STORE}/coral_packages {STORE}/haarcascades/.tmp && touch {STORE}/haarcascades/README",
    )
    # Start the service the timer runs; a oneshot unit's start returns when it has finished.
    site.as_root("data1", "systemctl start sentinelcam-model-cleanup.service")
    left = site.fleet.ssh("data1", f"ls -A {STORE}/haarcascades").stdout.split()
    # current 2020-03-25 (previous null), the pin 2019-02-01, and the 1 newest other 2019-05-01.
    assert sorted(left) == [".tmp", "2019-02-01", "2019-05-01", "2020-03-25", "README"]
    assert site.fleet.ssh("data1", f"test -d {STORE}/coral_packages", check=False).returncode == 0
    assert sorted(site.fleet.ssh("data1", f"ls {STORE}/face_recognition").stdout.split()) == [
        "2025-02-25",
        "2026-02-02",
    ]
    log = site.fleet.ssh("data1", "cat /home/ops/sentinelcam/logs/model_cleanup.log").stdout
    assert (
        "remove haarcascades/2019-01-01" in log
        and f"keep   haarcascades/2019-02-01 (pinned by {pinned_host})" in log
    )
    assert "freed" in log
    site.unpin(pinned_host)
    # A pin made after the timer was installed reaches its policy with the next model deploy, so
    # the next cleanup keeps that version too.
    later = site.fleet.names("sentinels")[0]
    site.pin(later, "haarcascades", "2019-05-01")
    try:
        run = site.deploy()
        assert run.returncode == 0, run.output
    finally:
        site.unpin(later)
    policy = json.loads(
        site.fleet.ssh("data1", "cat /home/ops/sentinelcam/model_retention_policy.json").stdout
    )
    assert policy["models"]["haarcascades"]["pins"] == {"2019-05-01": [later]}
    assert policy["keep"] == 1


def test_node_pruning_keeps_active_previous_and_spares_then_rollback_moves_no_bytes(site):
    host = site.fleet.names("sentinels")[0]
    history = ["2019-02-01", "2019-05-01", "2020-03-25", "2026-07-01", "2026-08-01", "2026-09-01"]
    for version in ("2026-07-01", "2026-08-01", "2026-09-01"):
        site.publish("haarcascades", version)
    previous = None
    for version in history:
        site.set_current("haarcascades", version, previous)
        run = site.deploy("--limit", host)
        assert run.returncode == 0, run.output
        previous = version
    left = [v for v in site.versions(host, "haarcascades") if not v.startswith(".")]
    # desired 2026-09-01, previous 2026-08-01, and node_model_retention (2) newest others.
    assert left == ["2020-03-25", "2026-07-01", "2026-08-01", "2026-09-01"]
    # Rolling back to previous is config-only: it is still on the node.
    site.set_current("haarcascades", "2026-08-01", "2026-09-01")
    run = site.deploy("--limit", host)
    assert run.returncode == 0, run.output
    assert not [op for op in run.changed_ops() if op.startswith("Install")]
    assert (
        "/home/ops/sentinel/models/haarcascades/2026-08-01/haarcascade_eye.xml"
        in site.job(host, "FaceRecon")["files"]
    )


def test_pruning_off_keeps_the_version_pruning_would_remove(site):
    host = site.fleet.names("sentinels")[0]
    # Desired 2019-05-01, previous 2026-08-01 (also active), spares 2026-09-01 and 2026-07-01:
    # 2020-03-25 is the one version pruning removes.
    site.set_current("haarcascades", "2019-05-01", "2026-08-01")
    run = site.deploy("--limit", host, "--data", "prune_models=false")
    assert run.returncode == 0, run.output
    assert not [op for op in run.changed_ops() if op.startswith("Prune")]
    assert "2020-03-25" in site.versions(host, "haarcascades")
    run = site.deploy("--limit", host)
    assert run.returncode == 0, run.output
    assert "Prune old versions of haarcascades" in run.changed_ops()
    assert "2020-03-25" not in site.versions(host, "haarcascades")


def policy(site) -> dict:
    return json.loads(
        site.fleet.ssh("data1", "cat /home/ops/sentinelcam/model_retention_policy.json").stdout
    )


def test_a_limited_deploy_that_leaves_out_the_primary_still_refreshes_its_policy(site):
    host = site.fleet.names("sentinels")[1]
    site.pin(host, "openface_torch", "2020-03-25")
    try:
        run = site.deploy("--limit", host)
        assert run.returncode == 0, run.output
        assert policy(site)["models"]["openface_torch"]["pins"] == {"2020-03-25": [host]}
    finally:
        site.unpin(host)


def test_a_change_to_a_model_no_host_uses_rewrites_the_policy_at_once(site, tmp_path):
    """Nobody redeploys for face_detection_blazeface (no coral blazeface sentinel here), yet the
    weekly cleanup must never remove its new current version."""
    site.publish("face_detection_blazeface", "2026-10-10")
    log = tmp_path / "actions.log"
    run = site.cli(
        "promote",
        "face_detection_blazeface",
        "2026-10-10",
        "--yes",
        "--no-commit",
        env={"SENTINELCAM_ACTION_LOG": str(log)},
    )
    assert run.returncode == 0, run.output
    assert "no host" in run.output
    assert policy(site)["models"]["face_detection_blazeface"]["current_version"] == "2026-10-10"
    site.as_root("data1", "systemctl start sentinelcam-model-cleanup.service")
    assert (
        site.fleet.ssh(
            "data1",
            "test -d /home/ops/sentinelcam/model_registry/face_detection_blazeface/2026-10-10",
            check=False,
        ).returncode
        == 0
    )
