#!/usr/bin/env python3
"""Benchmarks on a 20-node local fleet, each a ratio against a baseline measured in the same run.

    make bench            (or: NODES=20 .venv/bin/python benchmarks/run.py)

1. no-op deploy:  converged `pyinfra -y … deploys/models.py` / `pyinfra -y … fact server.Hostname`  (target ≤ 3)
2. drift:         `sentinelcam-models drift` / `pyinfra … fact server.Hostname`                   (target ≤ 2)
3. delta bytes:   a new version in which 90% of the bytes are unchanged: bytes each receiving node
                  pulled / bytes of the files that changed                                         (target ≤ 1.1)
4. rollback:      `sentinelcam-models rollback MODEL --previous --yes` end to end (edit, commit,
                  config redeploy), wall time, and no Install operation moving bytes             (target ≤ 5 s)

Times are medians of interleaved repetitions; the machine is shared and noisy, so only the ratios
within one run mean anything. Results are printed and written to benchmarks/results.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sentinelcam_models import demo, store as store_mod  # noqa: E402
from tests.support.site import Run, Site  # noqa: E402

BIN = Path(sys.executable).parent
NODES = int(os.environ.get("NODES", "20"))
REPEAT = int(os.environ.get("REPEAT", "3"))


class FleetView:
    """The minimum of tests/conftest.py's Fleet the Site helper needs."""

    def __init__(self):
        self.data = demo.load_fleet()
        self.nodes = self.data["nodes"]

    def names(self, group=None):
        return [n["name"] for n in self.nodes if group is None or group in n["groups"]]

    def ssh(self, name, command, check=True):
        node = next(n for n in self.nodes if n["name"] == name)
        cmd = ["ssh", "-i", self.data["ssh_key"], "-o", f"UserKnownHostsFile={self.data['known_hosts']}",
               "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"{self.data['ssh_user']}@{node['address']}", command]
        return subprocess.run(cmd, capture_output=True, text=True, check=check)


def timed(command: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL)
    return time.perf_counter() - start, proc


def must(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode not in (0,):
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def main() -> None:
    subprocess.run([sys.executable, "-m", "devfleet", "up", "--nodes", str(NODES)], check=True, cwd=REPO)
    subprocess.run([sys.executable, "-m", "devfleet", "reset"], check=True, cwd=REPO)
    fleet = FleetView()
    work = Path(tempfile.mkdtemp(prefix="sentinelcam-bench-"))
    site = Site(fleet, work)
    site.publish_registry_versions()
    inventory = str(site.inventory)
    results: dict = {"nodes": NODES}

    first = site.deploy()
    if first.returncode:
        raise SystemExit(first.output[-4000:])
    hostname = [str(BIN / "pyinfra"), "-y", inventory, "fact", "server.Hostname"]
    noop = [str(BIN / "pyinfra"), "-y", inventory, "deploys/models.py"]
    drift = [str(BIN / "sentinelcam-models"), "drift", "-i", inventory]

    # 1 + 2: interleaved repetitions against the same baseline.
    base, deploy_t, drift_t = [], [], []
    for _ in range(REPEAT):
        t, p = timed(hostname); must(p, "fact server.Hostname"); base.append(t)
        t, p = timed(noop); must(p, "no-op deploy"); deploy_t.append(t)
        changed = Run(p.returncode, p.stdout + p.stderr).changed_ops()
        if changed:
            raise SystemExit(f"the converged deploy changed something: {changed}")
        t, p = timed(drift); must(p, "drift"); drift_t.append(t)
    b = statistics.median(base)
    results["hostname_fact_s"] = round(b, 3)
    results["noop_deploy_s"] = round(statistics.median(deploy_t), 3)
    results["noop_deploy_ratio"] = round(statistics.median(deploy_t) / b, 2)
    results["drift_s"] = round(statistics.median(drift_t), 3)
    results["drift_ratio"] = round(statistics.median(drift_t) / b, 2)

    # 3: a new openface_torch version sharing 90% of its bytes with the current one.
    src = work / "delta"
    src.mkdir()
    unchanged, changed = 9_000_000, 1_000_000
    (src / "openface_nn4.small2.v1.t7").write_bytes(os.urandom(unchanged))
    (src / "extra_layer.bin").write_bytes(os.urandom(changed))
    store_mod.publish(site.store, "openface_torch", src, "2026-10-01")
    (src / "extra_layer.bin").write_bytes(os.urandom(changed))
    store_mod.publish(site.store, "openface_torch", src, "2026-10-02")
    site.push()
    site.set_current("openface_torch", "2026-10-01", "2020-12-06")
    must(subprocess.run(noop, cwd=REPO, capture_output=True, text=True), "deploy of 2026-10-01")
    site.set_current("openface_torch", "2026-10-02", "2026-10-01")
    p = subprocess.run(noop + ["-vvv"], cwd=REPO, capture_output=True, text=True)
    must(p, "deploy of 2026-10-02")
    received: dict[str, int] = {}
    for line in (p.stdout + p.stderr).splitlines():
        m = re.match(r"^\s*\[(\S+)\]\s+(?:>>>\s+)?Total bytes received: ([\d,.]+)", line)
        if m:
            received[m.group(1)] = received.get(m.group(1), 0) + int(m.group(2).replace(",", "").replace(".", ""))
    if not received:
        raise SystemExit("no rsync --stats in the deploy output")
    worst = max(received.values())
    results["delta_changed_bytes"] = changed
    results["delta_received_bytes_max"] = worst
    results["delta_receiving_nodes"] = len(received)
    results["delta_ratio"] = round(worst / changed, 3)

    # 4: rollback on the whole fleet, in a git repository of the inventory.
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.email=b@x.invalid", "-c", "user.name=bench", "commit", "-qm", "inventory"]):
        subprocess.run(["git", "-C", str(work), *args], check=True, capture_output=True)
    env = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x.invalid", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "b@x.invalid", "SENTINELCAM_ACTION_LOG": str(work / "actions.log")}
    rollback = [str(BIN / "sentinelcam-models"), "rollback", "openface_torch", "--previous", "--yes", "-i", inventory]
    times = []
    for _ in range(2):  # 2026-10-02 -> 2026-10-01 -> 2026-10-02: both on every node already
        t, p = timed(rollback, env)
        must(p, "rollback")
        installs = [op for op in Run(p.returncode, p.stdout + p.stderr).changed_ops() if op.startswith("Install")]
        if installs:
            raise SystemExit(f"rollback moved model bytes: {installs}")
        times.append(t)
    results["rollback_s"] = round(max(times), 3)

    print(json.dumps(results, indent=2))
    (REPO / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
