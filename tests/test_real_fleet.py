"""The README's "On your fleet" checklist on the local fleet (issue 14): nodes that log in as another
account under the least-privilege sudoers file, trust set up only by the trust deploy, a store that
began without manifests (the original's) and is adopted, a version published from this machine (not
the datasink), and nodes that already hold the original's manifest-less copies. The deploy converges,
drift is all ok, a second deploy changes nothing, and a node's key reaches nothing on the datasink
but a read-only view of the store."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from devfleet import demo
from devfleet.site import SCALE, Site

pytestmark = pytest.mark.fleet

STORE = demo.REMOTE_STORE
M = "/home/ops/sentinel/models"
FR, V1 = "face_recognition", "2026-02-02"
NODE = "sentinel2"  # logs in as admin: its pulls run as ops through sudo


def ssh_pipe(site, host, command, data: bytes) -> None:
    node = site.fleet.node(host)
    subprocess.run(
        [*demo.ssh_command(site.fleet.data).split(), f"ops@{node['address']}", command],
        input=data,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("realfleet"))
    s.setup(store=False)
    # The original's store: the registry's versions, no manifests.
    original = s.root / "original-store"
    demo.build_store(original, s.registry, scale=SCALE)
    for manifest in original.glob("*/*/MANIFEST.sha256"):
        manifest.unlink()
    demo.push_store(original, s.fleet.data)
    # The original's copy of face_recognition on a sentinel, with a list the node curated.
    tar = subprocess.run(
        ["tar", "-C", str(original / FR), "-cf", "-", V1], check=True, capture_output=True
    ).stdout
    ssh_pipe(s, NODE, f"mkdir -p {M}/{FR} && tar -C {M}/{FR} -xf -", tar)
    s.fleet.ssh(NODE, f"echo curated-by-the-original >> {M}/{FR}/{V1}/facelist.csv")
    s.node_inode = s.fleet.ssh(NODE, f"stat -c %i {M}/{FR}/{V1}/facemodel.pickle").stdout
    s.node_list = s.fleet.ssh(NODE, f"sha256sum < {M}/{FR}/{V1}/facelist.csv").stdout
    shutil.rmtree(original)
    return s


def test_adopt_lists_then_writes_the_manifests_of_the_original_store(site):
    dry = site.cli("adopt", "--dry-run")
    assert dry.returncode == 0, dry.output
    assert f"adopt: {FR}/{V1}" in dry.output or f"{FR}/{V1}" in dry.output
    assert site.fleet.ssh("data1", f"ls {STORE}/{FR}/{V1}/MANIFEST.sha256", check=False).returncode
    start = time.perf_counter()
    run = site.cli("adopt", "--yes")
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.output
    print(f"adopt of the demo store: {seconds:.2f} s")  # the closing note's number (-s shows it)
    site.fleet.ssh("data1", f"cd {STORE}/{FR}/{V1} && sha256sum -c --quiet MANIFEST.sha256")
    verify = site.cli("verify", FR)
    assert verify.returncode == 0, verify.output


def test_publish_from_this_machine_goes_to_the_datasink_s_store(site, tmp_path):
    source = tmp_path / "haar"
    source.mkdir()
    for name in ("haarcascade_eye.xml", "haarcascade_frontalface_default.xml"):
        (source / name).write_bytes(demo.model_bytes("haarcascades", "2026-07-01", name, 1000))
    run = site.cli("publish", "haarcascades", str(source), "--version", "2026-07-01", "--yes")
    assert run.returncode == 0, run.output
    site.fleet.ssh("data1", f"cd {STORE}/haarcascades/2026-07-01 && sha256sum -c MANIFEST.sha256")
    listed = site.cli("list", "haarcascades", "--json")
    assert listed.returncode == 0 and "2026-07-01" in listed.stdout, listed.output
    assert not list(site.root.glob("**/model_registry"))  # no store was made on this machine


def test_list_says_so_when_it_cannot_see_the_store(site):
    site.fleet.stop("data1")
    try:
        run = site.cli("list", FR)
    finally:
        site.fleet.start("data1")
    assert run.returncode == 2, run.output
    assert "MISSING" not in run.output and len(run.output.strip().splitlines()) == 1
    assert "data1" in run.output


def test_the_deploy_converges_and_adopts_the_node_s_own_copy_in_place(site):
    run = site.deploy()
    assert run.returncode == 0, run.output[-4000:]
    assert f"[{NODE}] sentinelcam: adopted {FR} {V1}" in run.output
    assert (
        site.fleet.ssh(NODE, f"stat -c %i {M}/{FR}/{V1}/facemodel.pickle").stdout == site.node_inode
    )
    assert site.fleet.ssh(NODE, f"sha256sum < {M}/{FR}/{V1}/facelist.csv").stdout == site.node_list
    drift = site.cli("drift", "--json")
    assert drift.returncode == 0, drift.output
    report = json.loads(drift.stdout)
    assert {m["status"] for h in report["hosts"] for m in h["models"]} == {"ok"}
    again = site.deploy()
    assert again.returncode == 0 and again.changed_ops() == [], again.output[-3000:]


def test_a_node_key_opens_no_shell_and_cannot_write_the_store(site):
    data1 = site.fleet.node("data1")["address"]
    ssh = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes"
    shell = site.fleet.ssh(NODE, f"{ssh} ops@{data1} id", check=False)
    assert shell.returncode != 0 and "uid=" not in shell.stdout
    site.fleet.ssh(NODE, "echo planted > /tmp/planted")
    write = site.fleet.ssh(
        NODE, f"rsync -e '{ssh}' /tmp/planted ops@{data1}:/{FR}/{V1}/planted", check=False
    )
    assert write.returncode != 0
    assert site.fleet.ssh("data1", f"test -e {STORE}/{FR}/{V1}/planted", check=False).returncode
    read = site.fleet.ssh(NODE, f"rsync -e '{ssh}' ops@{data1}:/{FR}/{V1}/MANIFEST.sha256 /tmp/")
    assert read.returncode == 0  # what it may do: read the store


def test_pulls_follow_the_datasink_s_ssh_port(site, tmp_path):
    data1 = site.fleet.node("data1")["address"]
    conf = "/etc/ssh/sshd_config.d/10-sentinelcam-fleet.conf"
    site.as_root("data1", f"sed -i 's/^ListenAddress .*/ListenAddress {data1}:2222/' {conf}")
    site.as_root("data1", "systemctl restart ssh", check=False)  # the session ends with sshd
    known = tmp_path / "known_hosts"
    operator_known = Path(site.fleet.data["known_hosts"]).read_text(encoding="utf-8")
    key = next(
        line.split(" ", 1)[1]
        for line in operator_known.splitlines()
        if line.startswith(f"{data1} ")
    )
    known.write_text(operator_known + f"[{data1}]:2222 {key}\n")
    site.set_data("data1", ssh_port=2222, ssh_known_hosts_file=str(known))
    trust = site.pyinfra("deploys/trust.py")
    assert trust.returncode == 0, trust.output[-3000:]
    source = tmp_path / "openface"
    source.mkdir()
    (source / "openface_nn4.small2.v1.t7").write_bytes(
        demo.model_bytes("openface_torch", "2026-07-02", "openface_nn4.small2.v1.t7", 14_000)
    )
    published = site.cli(
        "publish", "openface_torch", str(source), "--version", "2026-07-02", "--yes"
    )
    assert published.returncode == 0, published.output  # the CLI reaches the store on port 2222
    site.set_current("openface_torch", "2026-07-02", "2020-03-25")
    run = site.deploy()
    assert run.returncode == 0, run.output[-4000:]
    assert "sentinelcam: installed openface_torch 2026-07-02" in run.output
    assert "2026-07-02" in site.versions(NODE, "openface_torch")
