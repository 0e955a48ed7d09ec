#!/usr/bin/env python3
"""Where the first rollout's time goes (a profile, not a benchmark): a pristine fleet of NODES
nodes (default 20) set up as scale.py does (settle 0; PROBES=off leaves the registry's probes out),
then the first deploy with every output line stamped with the seconds since it started, so each
operation's start ("--> Starting operation") and each host's answers can be read off. As root:

    NODES=20 PROBES=off .venv/bin/python benchmarks/profile_first.py [pyinfra args, e.g. -v]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from common import REPO, fleet_of, pyinfra, site_for

from devfleet import demo

NODES = int(os.environ.get("NODES", "20"))
SCALE = float(os.environ.get("SCALE", "0.1"))


def main() -> None:
    fleet = fleet_of(NODES)
    site = site_for(fleet, SCALE, settle=0)
    if os.environ.get("PROBES") == "off":
        for model in demo.load_registry(site.registry).models:
            site.set_model_keys(model, probe=None)
    command = pyinfra(site, "deploys/models.py", *sys.argv[1:])
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"{time.perf_counter() - start:7.3f} {line}", end="", flush=True)
    print(f"{time.perf_counter() - start:7.3f} exit {proc.wait()}")
    shutil.rmtree(site.root, ignore_errors=True)


if __name__ == "__main__":
    main()
