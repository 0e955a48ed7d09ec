"""The local fleet itself: separate nodes, real SSH, sudo, node-to-datasink SSH and the stand-in services."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from devfleet import fleet as fleet_mod
from devfleet import modelgen
from devfleet.client import REPO

pytestmark = pytest.mark.fleet

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def poll(condition, deadline_s=30.0, interval=0.1, what="condition"):
    """Wait until condition() is truthy (a real check, not a fixed sleep); fail after the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(interval)


def test_fleet_json_matches_roles(fresh_fleet):
    names = fresh_fleet.names()
    assert names[:3] == ["data1", "sentinel1", "east"]
    assert len(set(names)) == len(names)
    for i, node in enumerate(fresh_fleet.nodes, start=1):
        assert node["address"] == f"127.{fleet_mod.fleet_net()}.0.{100 + i}"
    assert "data1" in fresh_fleet.names("datasinks")
    assert fresh_fleet.data["ssh_user"] == "ops"
    # Deploys log in as the service user on some nodes and as another account on others, in every group.
    for group in ("datasinks", "sentinels", "outposts"):
        logins = {n["login"] for n in fresh_fleet.nodes if group in n["groups"]}
        assert logins == {"ops", "admin"}, (group, logins)


def test_distinct_hostnames_via_pyinfra(fresh_fleet):
    proc = subprocess.run(
        [PYINFRA, "-y", fresh_fleet.inventory, "exec", "--", "hostname"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for name in fresh_fleet.names():
        assert re.search(rf"^\[{re.escape(name)}\]\s+{re.escape(name)}\s*$", out, re.M), (
            f"{name} not in:\n{out}"
        )


def test_node_isolation(fresh_fleet):
    marker = f"isolation-{uuid.uuid4().hex}"
    home_path, etc_path, usr_path = f"/home/ops/{marker}", f"/etc/{marker}", f"/usr/local/{marker}"
    writer, *others = fresh_fleet.names()
    fresh_fleet.ssh(writer, f"echo hello > {home_path}")
    fresh_fleet.ssh(writer, f"touch {etc_path} {usr_path}", user="root")
    assert fresh_fleet.ssh(writer, f"cat {home_path}").stdout == "hello\n"
    for path in (home_path, etc_path, usr_path):
        for other in others:
            assert fresh_fleet.ssh(other, f"test -e {path}", check=False).returncode == 1, (
                f"{path} on {other}"
            )
        assert not os.path.exists(path), f"{path} leaked to the host"


@pytest.mark.parametrize("user", ["ops", "admin"])
def test_no_account_has_sudo_until_the_product_grants_it(fresh_fleet, user):
    """Like a Pi other roles configured: the service user and the login account start with no sudo."""
    for name in fresh_fleet.names():
        proc = fresh_fleet.ssh(name, "sudo -n true", check=False, user=user)
        assert proc.returncode != 0, (name, user)


def test_sshd_listens_only_on_own_address(fresh_fleet):
    node = fresh_fleet.nodes[1]
    out = fresh_fleet.ssh(node["name"], "ss -Hltn 'sport = :22'").stdout
    listeners = {line.split()[3] for line in out.splitlines() if line.strip()}
    # All nodes share the host network namespace: every node's listener shows up, each on its own address.
    assert f"{node['address']}:22" in listeners
    assert not any(addr.startswith(("0.0.0.0:", "*:", "[::]:")) for addr in listeners), listeners


def test_nodes_do_not_trust_the_datasink_until_the_trust_deploy(fresh_fleet):
    """Nothing is pre-seeded: no node key, no datasink host key in known_hosts."""
    proc = fresh_fleet.ssh(
        "sentinel1", "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes ops@data1 true", check=False
    )
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr
    assert (
        fresh_fleet.ssh("sentinel1", "test -e /home/ops/.ssh/id_ed25519", check=False).returncode
        == 1
    )


@pytest.mark.parametrize(
    "service, node", [("sentinel", "east"), ("datapump", "east"), ("imagenode", "data1")]
)
def test_service_inactive_without_config(fresh_fleet, service, node):
    proc = fresh_fleet.ssh(node, f"systemctl is-active {service}", check=False)
    assert proc.stdout.strip() == "inactive"
    assert fresh_fleet.ssh(node, f"systemctl is-enabled {service}").stdout.strip() == "enabled"


def _starts(f, node, service):
    out = f.ssh(node, f"cat /home/ops/.standin/{service}.starts 2>/dev/null || echo 0").stdout
    return int(out.strip())


def test_provisioned_sentinel_runs_and_refuses_a_config_with_invented_keys(fresh_fleet):
    f, node = fresh_fleet, "sentinel1"
    poll(
        lambda: f.ssh(node, "systemctl is-active sentinel", check=False).stdout.strip() == "active",
        what="the provisioned sentinel to start",
    )
    before = _starts(f, node, "sentinel")
    f.ssh(
        node,
        "cp /home/ops/sentinel.yaml /home/ops/sentinel.yaml.good && "
        "printf 'sentinel:\\n  accelerator: cpu\\n  tasks_path: /home/ops/sentinel/tasks\\n' > /home/ops/sentinel.yaml",
    )
    try:
        assert f.ssh(node, "systemctl restart sentinel", check=False, user="root").returncode != 0
        journal = f.ssh(node, "journalctl -u sentinel --no-pager -o cat", user="root").stdout
        assert "control_port" in journal  # the first key the real sentinel reads is missing
        assert _starts(f, node, "sentinel") == before
    finally:
        f.ssh(node, "mv /home/ops/sentinel.yaml.good /home/ops/sentinel.yaml")
    f.ssh(node, "systemctl reset-failed sentinel; systemctl restart sentinel", user="root")
    assert _starts(f, node, "sentinel") == before + 1


def test_sentinel_job_reads_its_task_file_per_job(fresh_fleet):
    f, node = fresh_fleet, "sentinel1"
    prototxt = base64.b64encode(modelgen.caffe_prototxt()).decode()
    caffemodel = modelgen.caffemodel(4096)
    f.ssh(
        node,
        f"mkdir -p /home/ops/m && echo {prototxt} | base64 -d > /home/ops/m/deploy.prototxt"
        f" && echo {base64.b64encode(caffemodel).decode()} | base64 -d > /home/ops/m/model.caffemodel",
    )
    task = (
        "%YAML 1.0\\n---\\ntrk_type: fd1\\nall_frames: False\\ncamwatcher_update: True\\nface_detection:\\n"
        "  confidence: 0.5\\n  prototxt_path: /home/ops/m/deploy.prototxt\\n"
        "  model_path: /home/ops/m/model.caffemodel\\n  target: cpu\\n"
    )
    f.ssh(node, f"printf '%b' '{task}' > /home/ops/sentinel/tasks/GetFaces.yaml")
    ok = f.ssh(node, "/usr/bin/python3 /usr/local/bin/sentinelcam-standin job GetFaces")
    assert '"ok": true' in ok.stdout and "/home/ops/m/model.caffemodel" in ok.stdout
    f.ssh(node, "truncate -s 2000 /home/ops/m/model.caffemodel")  # the next job reads it again
    bad = f.ssh(
        node, "/usr/bin/python3 /usr/local/bin/sentinelcam-standin job GetFaces", check=False
    )
    assert bad.returncode == 1 and "model.caffemodel does not load" in bad.stdout + bad.stderr
    f.ssh(
        node, "printf 'trk_type: fd1\\ndetector: ssd\\n' > /home/ops/sentinel/tasks/GetFaces.yaml"
    )
    invented = f.ssh(
        node, "/usr/bin/python3 /usr/local/bin/sentinelcam-standin job GetFaces", check=False
    )
    assert invented.returncode == 1


def test_provisioned_imagenode_fails_until_its_models_exist(fresh_fleet):
    """An outpost as the imagenode role left it: the config names model files nobody installed yet."""
    f = fresh_fleet
    state = f.ssh("east", "systemctl show -p ActiveState --value imagenode").stdout.strip()
    assert state != "active"
    assert "mobilenet_ssd_depthai" in f.ssh("east", "cat /home/ops/imagenode.yaml").stdout


def test_reset_restores_pristine_nodes(fresh_fleet):
    f = fresh_fleet
    f.ssh("data1", "touch /home/ops/before-reset")
    f.ssh("data1", "touch /etc/before-reset", user="root")
    f.reset()
    for path in ("/home/ops/before-reset", "/etc/before-reset"):
        assert f.ssh("data1", f"test -e {path}", check=False).returncode == 1


def test_recorded_pid_survives_the_exec_into_nspawn(tmp_path, monkeypatch):
    """Regression: right after the spawn the node's wrapper shell exec()s systemd-nspawn, and during an
    execve /proc/<pid>/cmdline is empty. recorded_pid() must not take that for a dead node (the SSH
    wait then gave up on a node that was booting normally). Needs neither root nor the fleet."""
    monkeypatch.setenv("SENTINELCAM_FLEET_DIR", str(tmp_path))
    name = "regression-node"
    os.makedirs(fleet_mod.node_dir(name))
    misses = 0
    for _ in range(100):
        # The same shape as boot_node: a shell that exec()s the real program, detached.
        p = subprocess.Popen(
            [
                "/bin/sh",
                "-c",
                'exec "$@"',
                "fleet-node-" + name,
                "/bin/sh",
                "-c",
                "sleep 5",
                f"--machine={name}",
            ],
            start_new_session=True,
        )
        try:
            fleet_mod.record_pid(name, p.pid)
            end = time.monotonic() + 0.02
            while time.monotonic() < end:
                misses += fleet_mod.recorded_pid(name) != p.pid
        finally:
            p.kill()
            p.wait()
        assert fleet_mod.recorded_pid(name) is None  # gone (reaped) is not running
    assert misses == 0, f"recorded_pid() lost a running node {misses} time(s) right after the spawn"


def test_recorded_pid_is_not_fooled_by_pid_reuse(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTINELCAM_FLEET_DIR", str(tmp_path))
    name = "regression-node"
    os.makedirs(fleet_mod.node_dir(name))
    fleet_mod.record_pid(name, os.getpid())
    assert fleet_mod.recorded_pid(name) == os.getpid()
    pid, start = Path(fleet_mod.node_dir(name), "pid").read_text().split()
    # The same pid, but a process that started at another time: not the node.
    Path(fleet_mod.node_dir(name), "pid").write_text(f"{pid} {int(start) + 1}\n")
    assert fleet_mod.recorded_pid(name) is None


def _nspawn_pids():
    """This fleet's systemd-nspawn processes (their --directory is under its state dir): a fleet
    beside it (SENTINELCAM_FLEET_NET) does not count."""
    state = os.path.realpath(fleet_mod.state_dir()).encode() + b"/"
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    argv = fh.read().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith(b"systemd-nspawn") and any(a.startswith(state) for a in argv):
                pids.append(int(entry))
    return pids


def _fleet_mounts():
    state = os.path.realpath(fleet_mod.state_dir())
    with open("/proc/mounts") as fh:
        return [line for line in fh if state + "/" in line]


def test_down_leaves_nothing_behind_and_up_is_idempotent(fleet):
    """Runs last in this module; brings the fleet down, checks, and brings it back for later modules."""
    n = len(fleet.nodes)
    # up twice: the second is a no-op, no duplicate nodes.
    before = sorted(_nspawn_pids())
    assert len(before) == n
    out = fleet_mod_run("up", "--nodes", str(n))
    assert "nothing to do" in out
    assert sorted(_nspawn_pids()) == before

    fleet.down()
    try:
        assert _nspawn_pids() == []
        assert _fleet_mounts() == []
        for cg in fleet_mod.cgroup_dirs():
            assert not os.path.exists(cg), cg
        assert not os.path.exists(fleet_mod.fleet_json_path())
        for node in fleet.nodes:  # nothing answers on the node addresses any more
            assert not fleet_mod.ssh_ok(node, timeout=2)
        # down twice is fine
        fleet.down()
    finally:
        fleet.up()
    assert fleet_mod.is_up(n)
    assert len(_nspawn_pids()) == n


def fleet_mod_run(*args):
    proc = subprocess.run(
        [sys.executable, "-m", "devfleet", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout
