"""Safe rollouts on the local fleet (issue 16): the health gate reverts a node whose new model
version does not run, and a staged promote (canary, waves) stops on failure and puts everything back.

The model is mobilenet_ssd_edgetpu: alpha5's imagenode (a Coral camera) loads it at start, so its
gate is the restart; both sentinels name it in their MobileNetSSD_allFrames task (read per job, no
restart), so theirs is the registry's probe. A "bad" version is one whose files the services
and the probe refuse, as a model exported for the wrong runtime would be.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import yaml

from devfleet.site import PYTHON, REPO, Site

pytestmark = pytest.mark.fleet

MODEL = "mobilenet_ssd_edgetpu"
OLD = "2025-12-19"  # the registry's current version (inventories/group_data/model_registry.yaml)
BAD, GOOD, GOOD2, GOOD3 = "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01"
USERS = ["alpha5", "sentinel1", "sentinel2"]  # the hosts that run it in the demo inventory
M = "/home/ops/sentinel/models"
TASK = "MobileNetSSD_allFrames"
PROBE = "/usr/local/bin/sentinelcam-standin probe"
ENV = {
    "GIT_AUTHOR_NAME": "op",
    "GIT_AUTHOR_EMAIL": "op@example.invalid",
    "GIT_COMMITTER_NAME": "op",
    "GIT_COMMITTER_EMAIL": "op@example.invalid",
}


def git(site, *args):
    return subprocess.run(
        ["git", "-C", str(site.root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(site, message):
    git(site, "add", "-A")
    git(
        site, "-c", "user.email=t@example.invalid", "-c", "user.name=test", "commit", "-qm", message
    )


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("rollout"))
    s.setup()
    s.set_probe(MODEL, PROBE)
    git(s, "init", "-q")
    commit(s, "initial inventory")
    first = s.deploy()
    assert first.returncode == 0, first.output[-3000:]
    s.log = s.root / "actions.log"
    return s


def cli(site, *args):
    return site.cli(*args, env={**ENV, "SENTINELCAM_ACTION_LOG": str(site.log)})


def runs_on(site, host):
    """The version the host runs: the files alpha5's imagenode loaded when it last started; for a
    sentinel, the version its task file names (sentinelcam-configs.md: mobilenetssd.edgetpu_model)
    after a fresh job that reads that file ran."""
    if host == "alpha5":
        site.wait_active(host, "imagenode")
        files = site.loaded(host, "imagenode")
    else:
        result = site.job(host, TASK)
        assert result["ok"], (host, result)
        task = yaml.safe_load(site.config(host, f"{M}/../tasks/{TASK}.yaml"))
        files = [task["mobilenetssd"]["edgetpu_model"]]
    versions = {f.split("/")[-2] for f in files if f"/models/{MODEL}/" in f}
    assert len(versions) == 1, (host, files)
    return versions.pop()


def intact(site, host, version):
    """Every file of the version is on the node and matches its manifest."""
    base = "/home/ops/imagenode/models" if host == "alpha5" else M
    site.fleet.ssh(host, f"cd {base}/{MODEL}/{version} && sha256sum -c --quiet MANIFEST.sha256")


def registry_current(site):
    entry = yaml.safe_load(site.registry.read_text())["sentinelcam_models"][MODEL]
    return str(entry["current_version"]), entry["previous_version"] and str(
        entry["previous_version"]
    )


def pins(site):
    return {h: site.host_file(h).read_text() for h in USERS if site.host_file(h).exists()}


def test_bad_version_deployed_fleet_wide_reverts_every_node_that_loads_it(site):
    site.publish_broken(MODEL, BAD)
    site.set_current(MODEL, BAD, OLD)
    run = site.deploy()
    assert run.returncode != 0
    for host in USERS:
        assert host in run.output
        assert runs_on(site, host) == OLD
        intact(site, host, OLD)
        intact(site, host, BAD)  # the revert keeps the new files: a later deploy needs no pull
    # the failing checks are named: the imagenode that would not stay up, the sentinels' probe
    assert "imagenode" in run.output and f"probe {MODEL} {BAD} failed" in run.output
    report = json.loads(cli(site, "drift", "--json").stdout)
    gates = {h["host"]: h["gate"] for h in report["hosts"] if h["host"] in USERS}
    assert {g["status"] for g in gates.values()} == {"reverted"}, gates
    # back to the old version in the registry: the nodes already run it, nothing restarts
    site.set_current(MODEL, OLD, None)
    starts = site.starts("alpha5", "imagenode")
    again = site.deploy()
    assert again.returncode == 0, again.output[-3000:]
    assert site.starts("alpha5", "imagenode") == starts
    commit(site, "back to the old version")


def test_bad_version_promoted_with_a_canary_touches_only_the_canary(site):
    registry = site.registry.read_bytes()
    others = {h: site.fleet.ssh(h, f"sha256sum {M}/../tasks/{TASK}.yaml").stdout for h in USERS[1:]}
    starts = site.all_starts()
    installed = {h: site.versions(h, MODEL) for h in USERS[1:]}
    run = cli(site, "promote", MODEL, BAD, "--canary", "alpha5", "--waves", "50%,100%", "--yes")
    assert run.returncode == 1, run.output
    assert "alpha5" in run.output and "reverted" in run.output
    assert "rollout resume" in run.output and "rollout undo" in run.output  # printed up front
    assert site.registry.read_bytes() == registry
    assert pins(site) == {}  # the canary's temporary pin is gone
    assert runs_on(site, "alpha5") == OLD
    for host in USERS[1:]:
        assert site.fleet.ssh(host, f"sha256sum {M}/../tasks/{TASK}.yaml").stdout == others[host]
        assert site.versions(host, MODEL) == installed[host]  # never reached: nothing pulled
        assert all(
            n != host or count == starts[(n, s)] for (n, s), count in site.all_starts().items()
        )
    subjects = git(site, "log", "--format=%s", "-3").splitlines()
    assert subjects[0].startswith(f"Rollout {MODEL} {BAD}: stopped")
    assert subjects[1] == f"Rollout {MODEL} {BAD}: canary: alpha5"
    logged = [json.loads(line) for line in site.log.read_text().splitlines()]
    assert [e["action"] for e in logged][-2:] == ["rollout", "rollout"]
    status = json.loads(cli(site, "rollout", "status", MODEL, "--json").stdout)[MODEL]
    assert status["stage"] == "stopped" and "alpha5" in status["failed"]


def test_good_version_promoted_in_waves_moves_every_host_and_the_registry_once(site):
    site.publish(MODEL, GOOD)
    head = git(site, "rev-parse", "HEAD")
    run = cli(site, "promote", MODEL, GOOD, "--canary", "alpha5", "--waves", "50%,100%", "--yes")
    assert run.returncode == 0, run.output
    assert registry_current(site) == (GOOD, OLD)
    assert pins(site) == {}
    for host in USERS:
        assert runs_on(site, host) == GOOD
    registry = str(site.registry.relative_to(site.root))
    moves = git(site, "log", "--format=%s", f"{head}..HEAD", "--", registry).splitlines()
    assert len(moves) == 1, moves
    steps = git(site, "log", "--format=%s", f"{head}..HEAD").splitlines()[::-1]
    assert steps[0] == f"Rollout {MODEL} {GOOD}: canary: alpha5"
    assert steps[2] == f"Rollout {MODEL} {GOOD}: wave 1 of 2: sentinel1"
    assert steps[3] == f"Rollout {MODEL} {GOOD}: wave 2 of 2: sentinel2"
    assert steps[-1].startswith(f"Rollout {MODEL} {GOOD}: done")
    report = json.loads(cli(site, "drift", "--json").stdout)
    assert {
        h["host"]: h["gate"]["status"] for h in report["hosts"] if h["host"] in USERS
    } == dict.fromkeys(USERS, "passed")
    again = site.deploy()
    assert again.returncode == 0 and again.changed_ops() == [], again.output[-3000:]


def test_a_node_that_dies_mid_rollout_stops_it_and_resume_finishes_it(site):
    site.publish(MODEL, GOOD2)
    registry = site.registry.read_bytes()
    site.fleet.stop("sentinel2")  # the last wave's host is down when its wave comes
    try:
        run = cli(
            site, "promote", MODEL, GOOD2, "--canary", "alpha5", "--waves", "50%,100%", "--yes"
        )
        assert run.returncode == 1, run.output
        assert "sentinel2: failed: unreachable" in run.output
        # the stop rule: registry and pins as before, the hosts that had switched are back
        assert site.registry.read_bytes() == registry
        assert pins(site) == {}
        assert runs_on(site, "alpha5") == GOOD and runs_on(site, "sentinel1") == GOOD
    finally:
        site.fleet.start("sentinel2")
    assert runs_on(site, "sentinel2") == GOOD
    resumed = cli(site, "rollout", "resume", MODEL, "--yes")
    assert resumed.returncode == 0, resumed.output
    assert registry_current(site) == (GOOD2, GOOD)
    assert pins(site) == {}
    for host in USERS:
        assert runs_on(site, host) == GOOD2


def test_an_interrupted_rollout_shows_as_pending_and_is_undone_with_one_command(site):
    site.publish(MODEL, GOOD3)
    registry = site.registry.read_bytes()
    command = [PYTHON, "-m", "sentinelcam_models", "promote", MODEL, GOOD3, "--canary", "alpha5"]
    command += ["--waves", "50%,100%", "--yes", "-i", str(site.inventory)]
    env = {**os.environ, **ENV, "SENTINELCAM_ACTION_LOG": str(site.log)}
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        # as from an operator's terminal: a test run started in the background (`make test &`,
        # nohup) would hand down an ignored SIGINT, and the promote would rightly ignore Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        text=True,
    )
    wave_1 = "wave 1 of 2: sentinel1"
    deadline = time.monotonic() + 300
    while not any(  # the wave's step is committed and logged: its deploy is running
        wave_1 in line and GOOD3 in line for line in site.log.read_text().splitlines()
    ):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # the operator's Ctrl-C reaches the deploy too
    proc.wait(timeout=120)
    assert proc.returncode == 130 and "rollout status" in proc.stdout.read()
    status = json.loads(cli(site, "rollout", "status", MODEL, "--json").stdout)[MODEL]
    assert status["stage"] == "wave-1"
    report = json.loads(cli(site, "drift", "--json").stdout)
    gates = {h["host"]: h["gate"] for h in report["hosts"]}
    assert (
        gates["sentinel2"]["status"] == "pending" and "wave 2 of 2" in gates["sentinel2"]["detail"]
    )
    undo = cli(site, "rollout", "undo", MODEL, "--yes")
    assert undo.returncode == 0, undo.output
    assert site.registry.read_bytes() == registry
    assert pins(site) == {}
    for host in USERS:
        assert runs_on(site, host) == GOOD2
    status = json.loads(cli(site, "rollout", "status", MODEL, "--json").stdout)[MODEL]
    assert status["stage"] == "undone"
