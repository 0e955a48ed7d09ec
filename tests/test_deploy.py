"""deploys/models.py on the local fleet: first rollout, idempotence, new versions, pins, outposts,
node-owned files, interrupted pulls, and bad input that must change nothing."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.site import REPO, BIN, Site

pytestmark = pytest.mark.fleet

SENTINEL_MODELS = "/home/ops/sentinel/models"
IMAGENODE_MODELS = "/home/ops/imagenode/models"


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("site"))
    s.publish_registry_versions()
    s.first = s.deploy()
    return s


def snapshot(site):
    """What every node runs: service start counters and every config's bytes."""
    state = {"starts": site.all_starts()}
    for node in site.fleet.nodes:
        state[node["name"]] = site.fleet.ssh(
            node["name"], "cat /home/ops/*.yaml /home/ops/sentinel/tasks/*.yaml 2>/dev/null | sha256sum").stdout
    return state


def test_first_deploy_brings_every_node_up(site):
    assert site.first.returncode == 0, site.first.output
    for host in site.fleet.names("sentinels"):
        assert site.is_active(host, "sentinel") == "active"
        loaded = site.loaded(host, "sentinel")
        assert f"{SENTINEL_MODELS}/face_recognition/2026-02-02/facemodel.pickle" in loaded
        assert f"{SENTINEL_MODELS}/haarcascades/2020-12-06/haarcascade_eye.xml" in loaded
        assert site.versions(host, "face_recognition") == ["2026-02-02"]
        # every version directory verifies against the store's manifest on the node itself
        site.fleet.ssh(host, f"cd {SENTINEL_MODELS}/openface_torch/2020-12-06 && sha256sum -c --quiet MANIFEST.sha256")
    for host in site.fleet.names("datasinks")[1:]:
        assert site.is_active(host, "datapump") == "active"
        assert "facelist_current.csv -> facelist_2026-02-02.csv" in site.fleet.ssh(
            host, "ls -l /home/ops/sentinelcam/face_recognition/").stdout


def test_outposts_get_only_their_models(site):
    for host in site.fleet.names("outposts"):
        assert site.fleet.ssh(host, f"ls {IMAGENODE_MODELS}").stdout.split() == ["mobilenet_ssd"]
        assert site.fleet.ssh(host, "test -e /home/ops/sentinel/models", check=False).returncode == 1
        assert site.is_active(host, "imagenode") == "active"
    assert site.fleet.ssh("data1", "test -e /home/ops/sentinel.yaml", check=False).returncode == 1


def test_second_deploy_changes_nothing(site):
    before = snapshot(site)
    again = site.deploy()
    assert again.returncode == 0, again.output
    assert again.changed_ops() == []
    assert snapshot(site) == before  # no restart, no config rewritten


def test_new_version_reaches_exactly_its_hosts(site):
    before = site.all_starts()
    site.publish("haarcascades", "2026-03-01")
    site.set_current("haarcascades", "2026-03-01", "2020-12-06")
    run = site.deploy()
    assert run.returncode == 0, run.output
    after = site.all_starts()
    for (host, service), count in after.items():
        expected = before.get((host, service), 0) + (1 if service == "sentinel" else 0)
        assert count == expected, (host, service)
    for host in site.fleet.names("sentinels"):
        assert f"{SENTINEL_MODELS}/haarcascades/2026-03-01/haarcascade_eye.xml" in site.loaded(host, "sentinel")
    assert not any("haarcascades" in name for name in run.changed_ops() if "Install" in name and "outpost" in name)


def test_pin_on_one_host(site):
    sentinel1, sentinel2 = site.fleet.names("sentinels")[:2]
    site.pin(sentinel2, "face_recognition", "2025-02-25")
    try:
        run = site.deploy()
        assert run.returncode == 0, run.output
        assert "face_recognition/2025-02-25/facemodel.pickle" in site.config(sentinel2, "/home/ops/sentinel/tasks/FaceRecon.yaml")
        assert "face_recognition/2026-02-02/facemodel.pickle" in site.config(sentinel1, "/home/ops/sentinel/tasks/FaceRecon.yaml")
        assert site.versions(sentinel1, "face_recognition") == ["2026-02-02"]
    finally:
        site.unpin(sentinel2)


def test_node_owned_face_files_survive_redeploy(site):
    host = site.fleet.names("sentinels")[0]
    target = f"{SENTINEL_MODELS}/face_recognition/2026-02-02"
    site.fleet.ssh(host, f"echo curated-on-node > {target}/facelist.csv")
    # Force a reinstall of the very version: break one model file so its digest no longer matches.
    site.fleet.ssh(host, f"rm {target}/baselines.hdf5")
    run = site.deploy("--limit", host)
    assert run.returncode == 0, run.output
    assert site.fleet.ssh(host, f"cat {target}/facelist.csv").stdout == "curated-on-node\n"
    site.fleet.ssh(host, f"test -s {target}/baselines.hdf5")


def test_bad_pin_changes_nothing_anywhere(site):
    before = snapshot(site)
    host = site.fleet.names("sentinels")[0]
    site.pin(host, "openface_torch", "2019-05-05")
    try:
        run = site.deploy()
    finally:
        site.unpin(host)
    assert run.returncode != 0
    assert "openface_torch/2019-05-05 is not in the store" in run.output and host in run.output
    assert snapshot(site) == before


def test_unknown_model_in_models_filter(site):
    run = site.deploy("--data", "models=face_recognition,yolo")
    assert run.returncode != 0
    assert "--data models: unknown model 'yolo'" in run.output


def test_unreachable_datasink_keeps_every_node_as_it_was(site):
    before = snapshot(site)
    site.publish("openface_torch", "2026-04-01")
    site.set_current("openface_torch", "2026-04-01", "2020-12-06")
    # The nodes pull from an address nothing listens on; pyinfra itself still reaches data1.
    site.set_data("data1", model_registry_host="127.0.0.250", model_pull_tries=2)
    try:
        run = site.deploy()
    finally:
        site.set_data("data1", model_registry_host="127.0.0.101", model_pull_tries=6)
    assert run.returncode != 0
    assert "openface_torch 2026-04-01: pull from the datasink failed" in run.output
    assert snapshot(site) == before
    fixed = site.deploy()
    assert fixed.returncode == 0, fixed.output
    for host in site.fleet.names("sentinels"):
        assert f"{SENTINEL_MODELS}/openface_torch/2026-04-01/openface_nn4.small2.v1.t7" in site.loaded(host, "sentinel")


def test_full_disk_during_pull_fails_cleanly(site):
    host = site.fleet.names("sentinels")[-1]
    big = {"openface_nn4.small2.v1.t7": 4_000_000_000}  # scaled to 8 MB by the site
    site.publish("openface_torch", "2026-05-01", files=big)
    site.fleet.ssh(host, f"sudo mkdir -p {SENTINEL_MODELS}/openface_torch && "
                         f"sudo mount -t tmpfs -o size=2m,uid=1000,gid=1000 tmpfs {SENTINEL_MODELS}/openface_torch")
    before = snapshot(site)
    site.set_current("openface_torch", "2026-05-01", "2026-04-01")
    try:
        run = site.deploy("--limit", host)
        assert run.returncode != 0
        assert f"[{host}]" in run.output and "openface_torch 2026-05-01" in run.output
        assert snapshot(site)[host] == before[host]
        assert site.is_active(host, "sentinel") == "active"
    finally:
        site.fleet.ssh(host, f"sudo umount {SENTINEL_MODELS}/openface_torch")
    run = site.deploy("--limit", host)
    assert run.returncode == 0, run.output


def test_pull_killed_midway_leaves_old_version_active_and_next_run_completes(site):
    host = site.fleet.names("sentinels")[0]
    # Slow the datasink's side of rsync down so the pull can be caught in flight.
    site.fleet.ssh("data1", "printf '#!/bin/sh\\nexec /usr/bin/rsync --bwlimit=1000 \"$@\"\\n' | sudo tee /usr/local/bin/rsync >/dev/null"
                           " && sudo chmod 755 /usr/local/bin/rsync")
    site.publish("openface_torch", "2026-06-01", files={"openface_nn4.small2.v1.t7": 3_000_000_000})  # 6 MB
    site.set_current("openface_torch", "2026-06-01", "2026-05-01")
    before = site.config(host, "/home/ops/sentinel/tasks/FaceRecon.yaml")
    proc = subprocess.Popen([str(BIN / "pyinfra"), "-y", str(site.inventory), "deploys/models.py", "--limit", host],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while site.fleet.ssh(host, f"test -d {SENTINEL_MODELS}/openface_torch/.2026-06-01.partial && pgrep -x rsync",
                             check=False).returncode != 0:
            assert time.monotonic() < deadline, "the pull never started"
            assert proc.poll() is None, proc.stdout.read()
        site.fleet.ssh(host, "pkill -KILL -x rsync")
        output, _ = proc.communicate(timeout=300)
    finally:
        site.fleet.ssh("data1", "sudo rm -f /usr/local/bin/rsync")
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, output
    assert site.config(host, "/home/ops/sentinel/tasks/FaceRecon.yaml") == before
    assert "2026-06-01" not in site.versions(host, "openface_torch")
    assert ".2026-06-01.partial" in site.versions(host, "openface_torch")
    assert site.is_active(host, "sentinel") == "active"
    run = site.deploy("--limit", host)
    assert run.returncode == 0, run.output
    assert site.versions(host, "openface_torch")[-1] == "2026-06-01"
    assert ".2026-06-01.partial" not in site.versions(host, "openface_torch")


def test_dry_run_shows_what_would_change_and_changes_nothing(site):
    site.publish("haarcascades", "2026-07-15")
    site.set_current("haarcascades", "2026-07-15", "2026-03-01")
    before = snapshot(site)
    versions = {h: site.versions(h, "haarcascades") for h in site.fleet.names("sentinels")}
    proc = subprocess.run([str(BIN / "pyinfra"), "--dry", str(site.inventory), "deploys/models.py"], cwd=REPO,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Install haarcascades 2026-07-15" in output and "Config /home/ops/sentinel/tasks/FaceRecon.yaml" in output
    assert snapshot(site) == before
    assert {h: site.versions(h, "haarcascades") for h in site.fleet.names("sentinels")} == versions


def test_models_filter_deploys_only_that_model(site):
    converged = site.deploy()
    assert converged.returncode == 0, converged.output
    site.publish("face_detection", "2026-08-08")
    site.publish("haarcascades", "2026-08-08")
    site.set_current("face_detection", "2026-08-08", "2020-12-06")
    site.set_current("haarcascades", "2026-08-08", "2026-07-15")
    # The configs would name face_detection 2026-08-08, which models=haarcascades leaves out: refused.
    refused = site.deploy("--data", "models=haarcascades")
    assert refused.returncode != 0
    assert "face_detection 2026-08-08 is not installed and --data models= leaves it out" in refused.output
    run = site.deploy("--data", "models=haarcascades,face_detection")
    assert run.returncode == 0, run.output
    assert {op for op in run.changed_ops() if op.startswith("Install")} == {
        "Install face_detection 2026-08-08", "Install haarcascades 2026-08-08"}
    for host in site.fleet.names("outposts"):
        assert site.fleet.ssh(host, "ls /home/ops/imagenode/models").stdout.split() == ["mobilenet_ssd"]


def test_deep_verification_repairs_a_corrupted_version(site):
    host = site.fleet.names("sentinels")[0]
    target = f"{SENTINEL_MODELS}/face_recognition/2026-02-02"
    site.fleet.ssh(host, f"echo curated-again > {target}/facelist.csv")
    site.fleet.ssh(host, f"python3 -c \"f = open('{target}/facemodel.pickle', 'r+b'); f.seek(3); b = f.read(1)[0]; "
                         f"f.seek(3); f.write(bytes([b ^ 1]))\"")
    plain = site.deploy("--limit", host)
    assert plain.returncode == 0, plain.output
    assert not [op for op in plain.changed_ops() if op.startswith("Install")]  # a plain run does not re-hash
    deep = site.deploy("--limit", host, "--data", "verify_models=deep")
    assert deep.returncode == 0, deep.output
    assert "Install face_recognition 2026-02-02" in deep.changed_ops()
    site.fleet.ssh(host, f"cd {target} && grep -v facelist MANIFEST.sha256 | grep -v facedata | sha256sum -c --quiet")
    assert site.fleet.ssh(host, f"cat {target}/facelist.csv").stdout == "curated-again\n"
