"""rollback / promote / pin on the local fleet with a temporary git repository of the inventory."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devfleet.fleet import node_address
from devfleet.site import PYTHON, REPO, Site

pytestmark = pytest.mark.fleet

SENTINEL_MODELS = "/home/ops/sentinel/models"


def git(site, *args):
    return subprocess.run(
        ["git", "-C", str(site.root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("rollback"))
    s.setup()
    git(s, "init", "-q")
    git(s, "-c", "user.email=t@example.invalid", "-c", "user.name=test", "add", "-A")
    git(
        s,
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "user.name=test",
        "commit",
        "-qm",
        "initial inventory",
    )
    first = s.deploy()
    assert first.returncode == 0, first.output
    s.original = s.registry.read_bytes()
    return s


@pytest.fixture
def log(tmp_path):
    return tmp_path / "actions.log"


def cli(site, log, *args):
    env = {
        "SENTINELCAM_ACTION_LOG": str(log),
        "GIT_AUTHOR_NAME": "op",
        "GIT_AUTHOR_EMAIL": "op@example.invalid",
        "GIT_COMMITTER_NAME": "op",
        "GIT_COMMITTER_EMAIL": "op@example.invalid",
    }
    return site.cli(*args, env=env)


def inodes(site, host, model, version):
    return site.fleet.ssh(host, f"stat -c '%n %i' {SENTINEL_MODELS}/{model}/{version}/*").stdout


def test_rollback_to_missing_version_installs_it_first_and_twice_restores_bytes(site, log):
    sentinel = site.fleet.names("sentinels")[0]
    run = cli(site, log, "rollback", "face_recognition", "--previous", "--yes")
    assert run.returncode == 0, run.output
    assert "Rollback face_recognition from 2026-02-02 to 2025-02-25" in run.output
    assert "To undo: sentinelcam-models rollback face_recognition 2026-02-02" in run.output
    assert (
        git(site, "log", "-1", "--format=%s")
        == "Rollback face_recognition from 2026-02-02 to 2025-02-25"
    )
    assert "Install models" in run.changed_ops()
    assert (
        git(site, "show", "--name-only", "--format=", "HEAD")
        == "inventories/group_data/model_registry.yaml"
    )
    assert (
        f"{SENTINEL_MODELS}/face_recognition/2025-02-25/facemodel.pickle"
        in site.job(sentinel, "FaceRecon")["files"]
    )
    assert site.versions(sentinel, "face_recognition") == ["2025-02-25", "2026-02-02"]

    before_starts = site.all_starts()
    before_inodes = inodes(site, sentinel, "face_recognition", "2026-02-02")
    run = cli(site, log, "rollback", "face_recognition", "--previous", "--yes")
    assert run.returncode == 0, run.output
    assert site.registry.read_bytes() == site.original  # comments, quoting, order: byte for byte
    # Back to a version still on the nodes: no Install operation did anything, no bytes moved.
    assert [op for op in run.changed_ops() if op.startswith("Config")]  # the configs did change
    assert not [op for op in run.changed_ops() if op.startswith("Install")]
    assert inodes(site, sentinel, "face_recognition", "2026-02-02") == before_inodes
    after = site.all_starts()
    for (host, service), count in after.items():
        # task files need no sentinel restart; a non-primary datasink's datapump.yaml facefile changed
        uses = service == "datapump" and host in site.fleet.names("datasinks")[1:]
        assert count == before_starts.get((host, service), 0) + (1 if uses else 0), (host, service)
    assert (
        log.read_text().count('"outcome": "ok"') == 2
        and log.read_text().count('"outcome": "changed"') == 2
    )
    history = cli(site, log, "history", "face_recognition")
    assert history.returncode == 0 and "2025-02-25" in history.output


@pytest.mark.parametrize(
    "args, message",
    [
        (("rollback", "yolo", "--previous"), "unknown model 'yolo'"),
        (
            ("rollback", "face_recognition", "2024-01-01"),
            "face_recognition 2024-01-01 is not in the store",
        ),
        (("rollback", "haarcascades", "--previous"), "previous_version is null"),
        (("rollback", "face_recognition", "2024-02-30"), "is not a valid version"),
        (
            ("promote", "openface_torch", "2030-01-01"),
            "openface_torch 2030-01-01 is not in the store",
        ),
    ],
)
def test_bad_rollbacks_change_nothing(site, log, args, message):
    head = git(site, "rev-parse", "HEAD")
    before = site.registry.read_bytes()
    run = cli(site, log, *args, "--yes")
    assert run.returncode == 2, run.output
    assert message in run.output and "Traceback" not in run.output
    assert len([line for line in run.output.splitlines() if line.strip()]) == 1
    assert site.registry.read_bytes() == before and git(site, "rev-parse", "HEAD") == head


def test_already_at_target_is_fine(site, log):
    run = cli(site, log, "rollback", "face_recognition", "2026-02-02", "--yes")
    assert run.returncode == 0 and "already at 2026-02-02" in run.output


def test_dry_run_changes_nothing(site, log):
    head = git(site, "rev-parse", "HEAD")
    run = cli(site, log, "rollback", "face_recognition", "--previous", "--dry-run")
    assert run.returncode == 0
    assert '+    current_version: "2025-02-25"' in run.output and "hosts to redeploy:" in run.output
    assert site.registry.read_bytes() == site.original and git(site, "rev-parse", "HEAD") == head


def test_concurrent_rollbacks_are_serialised(site, log):
    env = {
        "SENTINELCAM_ACTION_LOG": str(log),
        "GIT_AUTHOR_NAME": "op",
        "GIT_AUTHOR_EMAIL": "o@x.invalid",
        "GIT_COMMITTER_NAME": "op",
        "GIT_COMMITTER_EMAIL": "o@x.invalid",
    }
    procs = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "sentinelcam_models",
                "rollback",
                "face_recognition",
                "--previous",
                "--yes",
                "--no-deploy",
                "-i",
                str(site.inventory),
            ],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    # One wins; the other either applies after it (a second swap) or refuses because the model
    # changed meanwhile. Either way the file is valid and git holds every applied change.
    check = site.cli("validate")
    assert check.returncode == 0, check.output
    applied = [o for o in outs if "(committed)" in o]
    assert codes[0] == 0 and applied
    subjects = git(site, "log", f"-{len(applied)}", "--format=%s").splitlines()
    assert all(s.startswith("Rollback face_recognition") for s in subjects)
    if len(applied) == 1:
        assert "changed meanwhile" in "".join(outs)
    # Put the registry back as it was for the modules after this one.
    if site.registry.read_bytes() != site.original:
        run = cli(site, log, "rollback", "face_recognition", "--previous", "--yes", "--no-deploy")
        assert run.returncode == 0, run.output
    assert site.registry.read_bytes() == site.original


def test_pin_and_unpin_one_host(site, log):
    host = site.fleet.names("sentinels")[1]
    run = cli(site, log, "pin", host, "face_recognition", "2025-02-25", "--yes")
    assert run.returncode == 0, run.output
    assert git(site, "log", "-1", "--format=%s") == f"Pin face_recognition on {host} to 2025-02-25"
    assert "face_recognition/2025-02-25/" in site.config(
        host, "/home/ops/sentinel/tasks/FaceRecon.yaml"
    )
    run = cli(site, log, "unpin", host, "face_recognition", "--yes")
    assert run.returncode == 0, run.output
    assert not (site.root / "inventories" / "host_data" / f"{host}.yaml").exists()
    assert "face_recognition/2026-02-02/" in site.config(
        host, "/home/ops/sentinel/tasks/FaceRecon.yaml"
    )


def test_redeploy_uses_this_interpreter_and_logs_before_it_starts(site, log):
    """The redeploy runs `python -m pyinfra`: no pyinfra script needs to sit beside the interpreter;
    when the redeploy itself fails, the change is logged and its undo line printed anyway."""
    script = Path(PYTHON).with_name("pyinfra")
    hidden = script.with_name("pyinfra.hidden")
    script.rename(hidden)
    try:
        run = cli(site, log, "rollback", "face_recognition", "--previous", "--yes")
    finally:
        hidden.rename(script)
    assert run.returncode == 0, run.output
    # the redeploy ran: the sentinels' configs switched to the previous version
    assert any(op.startswith("Config /home/ops/sentinel/tasks/") for op in run.changed_ops()), (
        run.output
    )
    site.set_data("data1", model_pull_address="127.0.0.250", model_pull_tries=1)
    try:
        site.publish("haarcascades", "2026-11-11")
        failed = cli(site, log, "promote", "haarcascades", "2026-11-11", "--yes")
    finally:
        site.set_data("data1", model_pull_address=node_address(1), model_pull_tries=6)
    assert failed.returncode == 1, failed.output
    assert "To undo: sentinelcam-models rollback haarcascades 2020-03-25" in failed.output
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in entries[-2:]] == [
        ("promote", "changed"),
        ("promote", "deploy failed (exit 1)"),
    ]
    undo = cli(site, log, "rollback", "haarcascades", "2020-03-25", "--yes")
    assert undo.returncode == 0, undo.output
    back = cli(site, log, "rollback", "face_recognition", "--previous", "--yes")
    assert back.returncode == 0, back.output
