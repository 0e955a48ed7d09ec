"""What the checkout's config.py saves a pyinfra run: its process ends without the interpreter's
exit-time garbage collections.

On one pristine fleet of NODES nodes (default 20) after its first deploy, converged deploys
(``pyinfra -y INVENTORY deploys/models.py``) REPEAT times with the checkout's config.py and REPEAT
times without it (``--config`` naming a file that does not exist, so pyinfra runs none),
interleaved; the medians of the wall time and of the controller's CPU, and their ratios. As root:

    .venv/bin/python benchmarks/exit_gc.py          # NODES=20 REPEAT=10 by default
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import fleet_of, median, must, pyinfra, ratio, site_for, timed

NODES = int(os.environ.get("NODES", "20"))
REPEAT = int(os.environ.get("REPEAT", "10"))
RESULTS = Path(__file__).with_name("results-exit-gc.json")
NO_CONFIG = "no-such-config.py"  # pyinfra runs --config only if it exists (cwd: the checkout)


def main() -> None:
    fleet = fleet_of(NODES)
    site = site_for(fleet, 0.1, settle=0)
    try:
        with_config = pyinfra(site, "deploys/models.py")
        without = pyinfra(site, "--config", NO_CONFIG, "deploys/models.py")
        must(timed(with_config), "first deploy")
        runs: dict[str, list] = {"with": [], "without": []}
        for i in range(REPEAT):
            order = ("with", "without") if i % 2 == 0 else ("without", "with")
            for arm in order:
                run = must(timed(with_config if arm == "with" else without), f"{arm} config.py")
                runs[arm].append((run.seconds, run.cpu_s))
    finally:
        shutil.rmtree(site.root, ignore_errors=True)
    result = {"nodes": NODES, "repeat": REPEAT}
    for arm, values in runs.items():
        result[f"{arm}_s"] = median([s for s, _ in values])
        result[f"{arm}_cpu_s"] = median([c for _, c in values])
        result[f"{arm}_all_s"] = [round(s, 3) for s, _ in values]
    result["with_over_without"] = ratio(result["with_s"], result["without_s"])
    result["cpu_with_over_without"] = ratio(result["with_cpu_s"], result["without_cpu_s"])
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
