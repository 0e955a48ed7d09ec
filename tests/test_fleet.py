"""The local fleet itself: separate nodes, real SSH, sudo, node-to-datasink SSH and the stand-in services."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.fleet import REPO, fleet_mod

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
        assert node["address"] == f"127.0.0.{100 + i}"
    assert "data1" in fresh_fleet.names("datasinks")
    assert fresh_fleet.data["ssh_user"] == "ops"


def test_distinct_hostnames_via_pyinfra(fresh_fleet):
    proc = subprocess.run([PYINFRA, "-y", fresh_fleet.inventory, "exec", "--", "hostname"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    for name in fresh_fleet.names():
        assert re.search(rf"^\[{re.escape(name)}\]\s+{re.escape(name)}\s*$", out, re.M), f"{name} not in:\n{out}"


def test_node_isolation(fresh_fleet):
    marker = f"isolation-{uuid.uuid4().hex}"
    home_path, etc_path, usr_path = f"/home/ops/{marker}", f"/etc/{marker}", f"/usr/local/{marker}"
    writer, *others = fresh_fleet.names()
    fresh_fleet.ssh(writer, f"echo hello > {home_path} && sudo -n touch {etc_path} {usr_path}")
    assert fresh_fleet.ssh(writer, f"cat {home_path}").stdout == "hello\n"
    for path in (home_path, etc_path, usr_path):
        for other in others:
            assert fresh_fleet.ssh(other, f"test -e {path}", check=False).returncode == 1, f"{path} on {other}"
        assert not os.path.exists(path), f"{path} leaked to the host"


def test_sudo_is_passwordless(fresh_fleet):
    for name in fresh_fleet.names():
        assert fresh_fleet.ssh(name, "sudo -n id -u").stdout.strip() == "0"


def test_sshd_listens_only_on_own_address(fresh_fleet):
    node = fresh_fleet.nodes[1]
    out = fresh_fleet.ssh(node["name"], "ss -Hltn 'sport = :22'").stdout
    listeners = {line.split()[3] for line in out.splitlines() if line.strip()}
    # All nodes share the host network namespace: every node's listener shows up, each on its own address.
    assert f"{node['address']}:22" in listeners
    assert not any(addr.startswith(("0.0.0.0:", "*:", "[::]:")) for addr in listeners), listeners


@pytest.mark.parametrize("target", ["127.0.0.101", "data1"])
def test_node_to_datasink_ssh(fresh_fleet, target):
    out = fresh_fleet.ssh(
        "sentinel1",
        f"ssh -o BatchMode=yes -o StrictHostKeyChecking=yes ops@{target} hostname",
    ).stdout
    assert out.strip() == "data1"


def test_unknown_host_key_is_refused_between_nodes(fresh_fleet):
    # Strict checking really is on: a host not in /etc/ssh/ssh_known_hosts is refused.
    proc = fresh_fleet.ssh(
        "sentinel1",
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null ops@data1 true",
        check=False,
    )
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr


@pytest.mark.parametrize("service", ["sentinel", "imagenode", "datapump"])
def test_service_inactive_without_config(fresh_fleet, service):
    proc = fresh_fleet.ssh("east", f"systemctl is-active {service}", check=False)
    assert proc.stdout.strip() == "inactive"
    assert fresh_fleet.ssh("east", f"systemctl is-enabled {service}").stdout.strip() == "enabled"


def _starts(f, node, service):
    out = f.ssh(node, f"cat /home/ops/.standin/{service}.starts 2>/dev/null || echo 0").stdout
    return int(out.strip())


def test_standin_loads_named_files(fresh_fleet):
    f, node = fresh_fleet, "sentinel1"
    f.ssh(node, "mkdir -p /home/ops/models/ssd /home/ops/sentinel/tasks"
                " && head -c 4096 /dev/urandom > /home/ops/models/ssd/model.bin"
                " && echo weights > /home/ops/models/task.bin")
    f.ssh(node, "cat > /home/ops/sentinel.yaml <<'EOF'\n"
                "sentinel:\n  model: /home/ops/models/ssd/model.bin\n  model_dir: /home/ops/models\n"
                "  labels: [person, car]\nEOF\n"
                "cat > /home/ops/sentinel/tasks/detect.yaml <<'EOF'\n"
                "steps:\n  - name: detect\n    weights: /home/ops/models/task.bin\nEOF")
    before = _starts(f, node, "sentinel")
    f.ssh(node, "sudo -n systemctl restart sentinel")
    assert f.ssh(node, "systemctl is-active sentinel").stdout.strip() == "active"
    loaded = f.ssh(node, "cat /home/ops/.standin/sentinel.loaded").stdout
    expected = f.ssh(node, "cd / && sha256sum /home/ops/models/ssd/model.bin /home/ops/models/task.bin"
                           " /home/ops/sentinel.yaml /home/ops/sentinel/tasks/detect.yaml | sort -k2").stdout
    assert loaded == expected
    assert _starts(f, node, "sentinel") == before + 1
    f.ssh(node, "sudo -n systemctl restart sentinel")
    assert _starts(f, node, "sentinel") == before + 2


def test_standin_fails_on_missing_model(fresh_fleet):
    f, node = fresh_fleet, "sentinel1"
    f.ssh(node, "printf 'sentinel:\\n  model: /home/ops/models/missing.bin\\n' > /home/ops/sentinel.yaml")
    before = _starts(f, node, "sentinel")
    proc = f.ssh(node, "sudo -n systemctl restart sentinel", check=False)
    assert proc.returncode != 0
    assert f.ssh(node, "systemctl is-failed sentinel", check=False).stdout.strip() == "failed"
    assert _starts(f, node, "sentinel") == before
    journal = f.ssh(node, "sudo -n journalctl -u sentinel --no-pager -o cat").stdout
    assert "/home/ops/models/missing.bin" in journal


def test_standin_fails_on_unreadable_model(fresh_fleet):
    f, node = fresh_fleet, "data1"
    f.ssh(node, "sudo -n install -m 0600 -o root /dev/null /home/ops/secret.bin"
                " && printf 'datapump:\\n  model: /home/ops/secret.bin\\n' > /home/ops/datapump.yaml")
    assert f.ssh(node, "sudo -n systemctl restart datapump", check=False).returncode != 0
    assert f.ssh(node, "systemctl is-failed datapump", check=False).stdout.strip() == "failed"


@pytest.mark.parametrize("service,node", [("imagenode", "east"), ("datapump", "data1")])
def test_other_standins_load_their_config(fresh_fleet, service, node):
    f = fresh_fleet
    f.ssh(node, f"echo data > /home/ops/{service}.bin"
                f" && printf '{service}:\\n  model: /home/ops/{service}.bin\\n' > /home/ops/{service}.yaml")
    f.ssh(node, f"sudo -n systemctl restart {service}")
    assert f.ssh(node, f"systemctl is-active {service}").stdout.strip() == "active"
    assert f"  /home/ops/{service}.bin\n" in f.ssh(node, f"cat /home/ops/.standin/{service}.loaded").stdout


def test_reset_restores_pristine_nodes(fresh_fleet):
    f = fresh_fleet
    f.ssh("data1", "touch /home/ops/before-reset && sudo -n touch /etc/before-reset")
    t0 = time.monotonic()
    f.reset()
    elapsed = time.monotonic() - t0
    for path in ("/home/ops/before-reset", "/etc/before-reset", "/home/ops/.standin"):
        assert f.ssh("data1", f"test -e {path}", check=False).returncode == 1
    assert f.ssh("sentinel1", "systemctl is-active sentinel", check=False).stdout.strip() == "inactive"
    assert elapsed < 60, f"reset took {elapsed:.1f} s"


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
        p = subprocess.Popen(["/bin/sh", "-c", 'exec "$@"', "fleet-node-" + name, "/bin/sh", "-c", "sleep 5",
                              f"--machine={name}"], start_new_session=True)
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
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    argv0 = fh.read().split(b"\0", 1)[0]
            except OSError:
                continue
            if argv0.endswith(b"systemd-nspawn"):
                pids.append(int(entry))
    return pids


def _fleet_mounts():
    state = os.path.realpath(fleet_mod.state_dir())
    with open("/proc/mounts") as fh:
        return [line for line in fh if state in line or fleet_mod.CACHE_DIR in line]


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
    proc = subprocess.run([sys.executable, "-m", "devfleet", *args],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout
