#!/usr/bin/env python3
"""Where the first rollout's time goes (a profile, not a benchmark): a pristine fleet of NODES
nodes (default 20) set up as scale.py does (settle 0; PROBES=off leaves the registry's probes out),
then the first deploy with every output line stamped with the seconds since it started, so each
operation's start ("--> Starting operation") and each host's answers can be read off. As root:

    NODES=20 PROBES=off STANDINS=stopped .venv/bin/python benchmarks/profile_first.py [pyinfra args]

At the end, one line per phase (pyinfra's "-->" lines: start-up, connecting, preparing, each
operation, disconnecting) with its wall time and the CPU seconds the nodes spent in it, read from
each node's cgroup, and the CPU seconds the controller (the pyinfra process) spent in it, read
from /proc: on this machine every node shares the same cores, so a phase's wall time
follows the CPU its processes cost (sudo, python starts, forks), not only the bytes it moves.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, fleet_of, pyinfra, site_for, stop_failing_standins

from devfleet import demo
from devfleet.layout import CGROUP_NAME

NODES = int(os.environ.get("NODES", "20"))
SCALE = float(os.environ.get("SCALE", "0.1"))
CGROUP = Path("/sys/fs/cgroup/unified") / CGROUP_NAME


def node_cpu() -> float:
    """CPU seconds used so far by every node of this fleet (cgroup v2 ``cpu.stat``)."""
    total = 0.0
    for stat in CGROUP.glob("*/cpu.stat"):
        with open(stat) as f:
            total += int(f.readline().split()[1]) / 1e6  # usage_usec
    return total


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (the controller)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    fleet = fleet_of(NODES)
    site = site_for(fleet, SCALE, settle=0)
    if os.environ.get("PROBES") == "off":
        for model in demo.load_registry(site.registry).models:
            site.set_model_keys(model, probe=None)
    if os.environ.get("STANDINS") == "stopped":  # as benchmarks/scale.py says
        print(f"stopped {stop_failing_standins(fleet)} failing stand-in services", flush=True)
    command = pyinfra(site, "deploys/models.py", *sys.argv[1:])
    start, cpu0 = time.perf_counter(), node_cpu()
    phases = [("start-up", 0.0, 0.0, 0.0)]
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - start
        print(f"{now:7.3f} {line}", end="", flush=True)
        if line.startswith("--> ") and not line.startswith("--> Results"):
            mark = (line[4:].strip()[:70], now, node_cpu() - cpu0, process_cpu(proc.pid))
            phases.append(mark)
    _, status, usage = os.wait4(proc.pid, 0)  # the controller's own CPU, to its end
    end = (time.perf_counter() - start, node_cpu() - cpu0, usage.ru_utime + usage.ru_stime)
    phases.append(("exit", *end))
    print(f"{end[0]:7.3f} exit {os.waitstatus_to_exitcode(status)}")
    print(
        f"\n{'wall s':>7} {'nodes CPU s':>11} {'ctl CPU s':>9}  phase (from its '-->' line to the next)"
    )
    for (name, at, cpu, ctl), (_, then, cpu_then, ctl_then) in itertools.pairwise(phases):
        print(f"{then - at:7.3f} {cpu_then - cpu:11.3f} {ctl_then - ctl:9.3f}  {name}")
    print(f"{end[0]:7.3f} {end[1]:11.3f} {end[2]:9.3f}  total")
    shutil.rmtree(site.root, ignore_errors=True)


if __name__ == "__main__":
    main()
