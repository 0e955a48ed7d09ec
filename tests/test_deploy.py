"""deploys/models.py on the local fleet: first rollout, idempotence, what a version change touches
and restarts, pins, node-owned files, interrupted pulls, and bad input that changes nothing.

The fleet's nodes log in as ops or as admin, under the least-privilege sudoers file, with trust set
up by deploys/trust.py (Site.setup), and carry the files the SentinelCam roles would have left.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import yaml

from devfleet.fleet import node_address
from devfleet.site import PYTHON, REPO, Site

pytestmark = pytest.mark.fleet

M = "/home/ops/sentinel/models"
N = "/home/ops/imagenode/models"
TASKS = ("GetFaces", "MobileNetSSD_allFrames", "FaceRecon", "FaceSweep", "FaceDataUpdate")
ROLE_FILES = (
    "/home/ops/sentinel.yaml",
    "/home/ops/sentinel/tasks/VehicleSpeed.yaml",
    "/home/ops/sentinel/tasks/DailyCleanup.yaml",
)


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("site"))
    s.role_files = {
        h: s.fleet.ssh(h, f"sha256sum {' '.join(ROLE_FILES)}").stdout
        for h in s.fleet.names("sentinels")
    }
    s.imagenode_before = {
        h: s.config(h, "/home/ops/imagenode.yaml") for h in s.fleet.names("outposts")
    }
    s.setup()
    s.first = s.deploy()
    return s


def snapshot(site):
    """What every node runs: service start counters and every config's bytes."""
    state = {"starts": site.all_starts()}
    for node in site.fleet.nodes:
        state[node["name"]] = site.fleet.ssh(
            node["name"],
            "cat /home/ops/*.yaml /home/ops/sentinel/tasks/*.yaml 2>/dev/null | sha256sum",
        ).stdout
    return state


def test_first_deploy_every_job_and_service_runs_on_its_models(site):
    assert site.first.returncode == 0, site.first.output
    for host in site.fleet.names("sentinels"):
        for task in TASKS:
            result = site.job(host, task)
            assert result["ok"], (host, task, result)
        files = site.job(host, "FaceRecon")["files"]
        assert f"{M}/face_recognition/2026-02-02/facemodel.pickle" in files
        assert f"{M}/haarcascades/2020-03-25/haarcascade_eye.xml" in files
        assert site.versions(host, "face_recognition") == ["2026-02-02"]
        site.fleet.ssh(
            host, f"cd {M}/openface_torch/2020-03-25 && sha256sum -c --quiet MANIFEST.sha256"
        )
    for host in site.fleet.names("outposts"):
        site.wait_active(host, "imagenode")
    assert f"{N}/mobilenet_ssd_depthai/2026-06-07/mobilenet-ssd-300x300.rvc2.tar.xz" in site.loaded(
        "east", "imagenode"
    )
    assert any("mobilenet_ssd_edgetpu/2025-12-19/" in f for f in site.loaded("alpha5", "imagenode"))
    for host in site.fleet.names("datasinks")[1:]:
        site.wait_active(host, "datapump")
        assert (
            "facelist_current.csv -> facelist_2026-02-02.csv"
            in site.fleet.ssh(host, "ls -l /home/ops/sentinelcam/face_recognition/").stdout
        )


def test_files_without_model_paths_stay_byte_for_byte(site):
    for host, digests in site.role_files.items():
        assert site.fleet.ssh(host, f"sha256sum {' '.join(ROLE_FILES)}").stdout == digests


def test_outposts_get_exactly_their_models(site):
    assert site.fleet.ssh("east", f"ls {N}").stdout.split() == ["mobilenet_ssd_depthai"]
    assert site.fleet.ssh("alpha5", f"ls {N}").stdout.split() == [
        "mobilenet_ssd",
        "mobilenet_ssd_edgetpu",
    ]
    for host in site.fleet.names("outposts"):
        assert (
            site.fleet.ssh(host, "test -e /home/ops/sentinel/models", check=False).returncode == 1
        )
    assert (
        site.fleet.ssh(
            "data1", "test -e /home/ops/sentinel/tasks/GetFaces.yaml", check=False
        ).returncode
        == 1
    )


def test_second_deploy_changes_nothing(site):
    before = snapshot(site)
    again = site.deploy()
    assert again.returncode == 0, again.output
    assert again.changed_ops() == []
    assert snapshot(site) == before


def test_new_version_changes_task_files_without_restarting_the_sentinel(site):
    before = site.all_starts()
    site.publish("haarcascades", "2026-03-01")
    site.set_current("haarcascades", "2026-03-01", "2020-03-25")
    run = site.deploy()
    assert run.returncode == 0, run.output
    assert site.all_starts() == before  # the sentinel re-reads task files per job; nothing restarts
    for host in site.fleet.names("sentinels"):
        assert (
            f"{M}/haarcascades/2026-03-01/haarcascade_eye.xml"
            in site.job(host, "FaceRecon")["files"]
        )
    assert not [op for op in run.changed_ops() if "imagenode" in op or "Restart" in op]


def test_imagenode_model_change_patches_only_model_keys_and_restarts_once(site):
    host = "alpha5"
    before_text = site.config(host, "/home/ops/imagenode.yaml")
    before = site.all_starts()
    site.publish("mobilenet_ssd_edgetpu", "2026-04-04")
    site.set_current("mobilenet_ssd_edgetpu", "2026-04-04", "2025-12-19")
    run = site.deploy()
    assert run.returncode == 0, run.output
    after_text = site.config(host, "/home/ops/imagenode.yaml")
    changed = [
        (a, b)
        for a, b in zip(before_text.splitlines(), after_text.splitlines(), strict=True)
        if a != b
    ]
    assert [b.split(":", 1)[0].strip() for _, b in changed] == ["edgetpu_model", "model_labels"]
    assert all("mobilenet_ssd_edgetpu/2026-04-04/" in b for _, b in changed)
    old, new = yaml.safe_load(before_text), yaml.safe_load(after_text)
    for doc in (old, new):
        block = doc["cameras"]["P1"]["detectors"]["outpost"]["mobilenetssd"]
        block.pop("edgetpu_model"), block.pop("model_labels")
    assert old == new
    after = site.all_starts()
    assert after[(host, "imagenode")] == before[(host, "imagenode")] + 1
    assert after[("east", "imagenode")] == before[("east", "imagenode")]  # east's camera is OAK
    # the sentinels' MobileNetSSD_allFrames.yaml names it too: new task file, no restart
    assert all(
        after[(h, "sentinel")] == before[(h, "sentinel")] for h in site.fleet.names("sentinels")
    )
    assert any("mobilenet_ssd_edgetpu/2026-04-04/" in f for f in site.loaded(host, "imagenode"))


def test_pin_on_one_host(site):
    sentinel1, sentinel2 = site.fleet.names("sentinels")[:2]
    site.pin(sentinel2, "face_recognition", "2025-02-25")
    try:
        run = site.deploy()
        assert run.returncode == 0, run.output
        assert "face_recognition/2025-02-25/facemodel.pickle" in site.config(
            sentinel2, "/home/ops/sentinel/tasks/FaceRecon.yaml"
        )
        assert "face_recognition/2026-02-02/facemodel.pickle" in site.config(
            sentinel1, "/home/ops/sentinel/tasks/FaceRecon.yaml"
        )
        assert site.versions(sentinel1, "face_recognition") == ["2026-02-02"]
    finally:
        site.unpin(sentinel2)


def test_bad_pin_changes_nothing_anywhere(site):
    before = snapshot(site)
    host = site.fleet.names("sentinels")[0]
    site.pin(host, "openface_torch", "2019-05-05")
    try:
        run = site.deploy()
    finally:
        site.unpin(host)
    assert run.returncode != 0
    assert "openface_torch/2019-05-05: not in the store" in run.output and host in run.output
    assert snapshot(site) == before


def test_unknown_model_in_models_filter(site):
    run = site.deploy("--data", "models=face_recognition,yolo")
    assert run.returncode != 0
    assert "--data models: unknown model 'yolo'" in run.output


def test_unreachable_datasink_keeps_every_node_as_it_was(site):
    before = snapshot(site)
    site.publish("openface_torch", "2026-04-01")
    site.set_current("openface_torch", "2026-04-01", "2020-03-25")
    # Nodes pull from an address nothing listens on; pyinfra itself still reaches data1.
    site.set_data("data1", model_pull_address="127.0.0.250", model_pull_tries=2)
    try:
        run = site.deploy()
    finally:
        site.set_data("data1", model_pull_address=node_address(1), model_pull_tries=6)
    assert run.returncode != 0
    assert "pull from the datasink failed" in run.output
    assert snapshot(site) == before
    fixed = site.deploy()
    assert fixed.returncode == 0, fixed.output
    for host in site.fleet.names("sentinels"):
        assert (
            f"{M}/openface_torch/2026-04-01/openface_nn4.small2.v1.t7"
            in site.job(host, "FaceRecon")["files"]
        )


def test_full_disk_during_pull_fails_cleanly(site):
    host = site.fleet.names("sentinels")[-1]
    site.publish(
        "openface_torch", "2026-05-01", files={"openface_nn4.small2.v1.t7": 4_000_000_000}
    )  # 8 MB
    site.as_root(
        host,
        f"mkdir -p {M}/.sentinelcam-pull && chown ops:ops {M}/.sentinelcam-pull && "
        f"mount -t tmpfs -o size=2m,uid=1000,gid=1000 tmpfs {M}/.sentinelcam-pull",
    )
    before = snapshot(site)
    site.set_current("openface_torch", "2026-05-01", "2026-04-01")
    try:
        run = site.deploy("--limit", host)
        assert run.returncode != 0
        assert f"[{host}]" in run.output and "openface_torch 2026-05-01" in run.output
        assert snapshot(site)[host] == before[host]
        assert site.job(host, "FaceRecon")["ok"]
    finally:
        site.as_root(host, f"umount {M}/.sentinelcam-pull")
    run = site.deploy("--limit", host)
    assert run.returncode == 0, run.output


def test_pull_killed_midway_leaves_old_version_active_and_next_run_completes(site):
    host = site.fleet.names("sentinels")[0]
    # Slow the datasink's side of rsync down so the pull can be caught in flight.
    # rrsync (the datasink's forced command) runs /usr/bin/rsync by its absolute path: slow that one.
    site.as_root(
        "data1",
        "mv /usr/bin/rsync /usr/bin/rsync.real && printf '#!/bin/sh\\nexec /usr/bin/rsync.real "
        '--bwlimit=1000 "$@"\\n\' > /usr/bin/rsync && chmod 755 /usr/bin/rsync',
    )
    site.publish(
        "openface_torch", "2026-06-01", files={"openface_nn4.small2.v1.t7": 3_000_000_000}
    )  # 6 MB
    site.set_current("openface_torch", "2026-06-01", "2026-05-01")
    before = site.config(host, "/home/ops/sentinel/tasks/FaceRecon.yaml")
    proc = subprocess.Popen(
        [PYTHON, "-m", "pyinfra", "-y", str(site.inventory), "deploys/models.py", "--limit", host],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while (
            site.fleet.ssh(
                host,
                f"test -d {M}/.sentinelcam-pull/openface_torch/2026-06-01 && pgrep -x rsync",
                check=False,
            ).returncode
            != 0
        ):
            assert time.monotonic() < deadline, "the pull never started"
            assert proc.poll() is None, proc.stdout.read()
        site.as_root(host, "pkill -KILL -x rsync")
        output, _ = proc.communicate(timeout=300)
    finally:
        site.as_root("data1", "mv -f /usr/bin/rsync.real /usr/bin/rsync")
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, output
    assert site.config(host, "/home/ops/sentinel/tasks/FaceRecon.yaml") == before
    assert "2026-06-01" not in site.versions(host, "openface_torch")
    assert site.job(host, "FaceRecon")["ok"]
    run = site.deploy("--limit", host)
    assert run.returncode == 0, run.output
    assert site.versions(host, "openface_torch")[-1] == "2026-06-01"
    assert site.fleet.ssh(host, f"test -e {M}/.sentinelcam-pull", check=False).returncode == 1


def test_dry_run_shows_what_would_change_and_changes_nothing(site):
    site.publish("haarcascades", "2026-07-15")
    site.set_current("haarcascades", "2026-07-15", "2026-03-01")
    before = snapshot(site)
    versions = {h: site.versions(h, "haarcascades") for h in site.fleet.names("sentinels")}
    run = site.pyinfra("deploys/models.py", dry=True)
    assert run.returncode == 0, run.output
    assert "Install models" in run.output
    assert "Config /home/ops/sentinel/tasks/FaceRecon.yaml" in run.output
    assert snapshot(site) == before
    assert {h: site.versions(h, "haarcascades") for h in site.fleet.names("sentinels")} == versions


def test_models_filter_deploys_only_that_model(site):
    converged = site.deploy()
    assert converged.returncode == 0, converged.output
    site.publish("face_detection", "2026-08-08")
    site.publish("haarcascades", "2026-08-08")
    site.set_current("face_detection", "2026-08-08", "2020-03-25")
    site.set_current("haarcascades", "2026-08-08", "2026-07-15")
    # The task files would name face_detection 2026-08-08, which models=haarcascades leaves out: refused.
    refused = site.deploy("--data", "models=haarcascades")
    assert refused.returncode != 0
    assert (
        "face_detection 2026-08-08 is not installed and --data models= leaves it out"
        in refused.output
    )
    run = site.deploy("--data", "models=haarcascades,face_detection")
    assert run.returncode == 0, run.output
    for host in site.fleet.names("sentinels"):
        assert set(site.versions(host, "haarcascades")) >= {"2026-08-08"}
    assert site.fleet.ssh("alpha5", f"ls {N}").stdout.split() == [
        "mobilenet_ssd",
        "mobilenet_ssd_edgetpu",
    ]


def test_deep_verification_repairs_a_corrupted_version(site):
    host = site.fleet.names("sentinels")[0]
    target = f"{M}/face_recognition/2026-02-02"
    site.fleet.ssh(host, f"echo curated-on-node > {target}/facelist.csv")
    site.fleet.ssh(
        host,
        f"python3 -c \"f = open('{target}/facemodel.pickle', 'r+b'); f.seek(3); b = f.read(1)[0]; "
        f'f.seek(3); f.write(bytes([b ^ 1]))"',
    )
    plain = site.deploy("--limit", host)
    assert plain.returncode == 0, plain.output
    assert not [
        op for op in plain.changed_ops() if op.startswith("Install")
    ]  # a plain run does not re-hash
    deep = site.deploy("--limit", host, "--data", "verify_models=deep")
    assert deep.returncode == 0, deep.output
    assert "Install models" in deep.changed_ops()
    site.fleet.ssh(
        host,
        f"cd {target} && grep -v facelist MANIFEST.sha256 | grep -v facedata | sha256sum -c --quiet",
    )
    assert site.fleet.ssh(host, f"cat {target}/facelist.csv").stdout == "curated-on-node\n"
