#!/usr/bin/env python3
"""Scale benchmark (issue 17): 20, 50, 100 and 200 nodes, each size measured in one run.

    make bench-scale          (or: SIZES="20 50 100 200" .venv/bin/python benchmarks/scale.py; as root)

For each size, on a fresh local fleet set up as the README's checklist says, with models at SCALE of
their real sizes:

- converged: the converged no-op deploy / a bare `pyinfra … fact server.Hostname` (medians of
  interleaved repetitions);
- first rollout: the first deploy's wall time / a floor measured in the same run: every node pulls
  the same versions with one plain `rsync` over SSH from the datasink (through the same forced
  `rrsync -ro`), at the same concurrency (the deploy's window: MaxStartups - 2);
- the bytes the primary datasink sent (the receivers' rsync counts), the controller's CPU seconds and
  peak RSS, and each datasink's peak number of concurrent SSH sessions (sampled every 50 ms);
- with at least two datasinks besides the primary (100 nodes and up): the non-datasink nodes split
  between two site mirrors, a new version whose every byte changed: bytes the primary sent / two
  copies of the changed files.

The health gate's settle period is 0 here (its cost is benchmarks/run.py's measure 6): the first
rollout is compared with moving the bytes. With PROBES=off the registry's model probes are left out
too (the gate then only checks the restarted services): the shipped probes load every model with
OpenCV/scikit-learn on each node, CPU work that here all nodes share with two cores (on a fleet each
node has its own CPU). The results say which (``"probes"``). FIRST_REPEAT=n measures the first
rollout on n fresh fleets, each against its own floor, and reports the median ratio (with that
run's figures) and every ratio (``"first_over_floor_all"``): on a shared machine one run's floor
and first rollout each vary by a third. STANDINS=stopped stops, before the floor, the fleet's
stand-in services that are restarting for want of their models (every outpost's imagenode on a
pristine fleet): each one's next start after the deploy put its models in place loads them
(about 0.4 s of CPU each here), at a moment set by its RestartSec, while the other nodes still
deploy; on a fleet each node starts its service on its own CPU. The results say which
(``"standins"``, and how many were stopped). Results: benchmarks/results-scale.json (the sizes a
run measures replace their entries; other sizes stay) and a Markdown table on stdout for the
README.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import os
import platform
import shlex
import shutil
import time

from common import (
    REPO,
    SessionSampler,
    fact_then_converged,
    fleet_of,
    inventory_summary,
    median,
    must,
    pyinfra,
    ratio,
    site_for,
    stop_failing_standins,
    timed,
)

from devfleet import demo
from devfleet import fleet as fleet_mod
from facts.shell import PYTHON
from sentinelcam_models.core import catalog
from sentinelcam_models.store.bundle import bundle_source
from sentinelcam_models.store.local import LocalStore

SIZES = [int(s) for s in os.environ.get("SIZES", "20 50 100 200").split()]
REPEAT = int(os.environ.get("REPEAT", "3"))
FIRST_REPEAT = int(os.environ.get("FIRST_REPEAT", "1"))  # first rollouts, each on a fresh fleet
SCALE = float(os.environ.get("SCALE", "0.1"))
PROBES = os.environ.get("PROBES", "on")  # "off": the registry's probes left out (see above)
STANDINS = os.environ.get("STANDINS", "running")  # "stopped": failing stand-ins stopped (see above)
FLOOR_DIR = "/tmp/sentinelcam-floor"
SSH = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=15"


def window(fleet, datasink: str) -> int:
    """The deploy's window towards ``datasink``: its sshd's MaxStartups start value, minus two."""
    out = fleet.ssh(
        datasink,
        "sshd -T 2>/dev/null | sed -n 's/^maxstartups \\([0-9]*\\).*/\\1/p'",
        user="root",
        check=False,
    ).stdout.strip()
    return max(1, (int(out) if out.isdigit() else 10) - 2)


def serve(fleet, summary: dict) -> None:
    """The primary's served roots (each node key's forced ``rrsync -ro`` root), made by the same
    store agent command the deploy's pre-flight runs, so the floor's pulls go through them too."""
    roots, coral = summary["served"]
    document = json.dumps({"store": summary["primary_store"], "roots": roots, "coral": coral})
    command = f"runuser -u {shlex.quote(summary['primary_user'])} -- " + shlex.join(
        [*PYTHON, "-c", bundle_source(), "serve", document]
    )
    fleet.ssh(summary["primary"], command, user="root")


def floor(
    fleet, summary: dict, address: dict[str, str], width: int, watch: list[str]
) -> tuple[float, SessionSampler]:
    """Every node pulls what its plan holds with one plain rsync session from its datasink: the
    seconds, and the SessionSampler that watched the datasinks meanwhile (as the deploy's)."""
    serve(fleet, summary)
    jobs = []
    for host, info in summary["hosts"].items():
        keys = info["keys"]
        if not keys:
            continue
        source = address[info["source"]]
        sources = " ".join(
            shlex.quote(f"{info['user']}@{source}:/{keys[0]}/")
            if i == 0
            else shlex.quote(f":/{k}/")
            for i, k in enumerate(keys)
        )
        command = f"runuser -u {shlex.quote(info['user'])} -- sh -c " + shlex.quote(
            f"mkdir -p {FLOOR_DIR} && rsync -rtR -e '{SSH}' {sources} {FLOOR_DIR}/"
        )
        jobs.append((host, command))

    def pull(job):
        host, command = job
        proc = fleet.ssh(host, command, user="root", check=False, timeout=1800)
        if proc.returncode:
            raise SystemExit(f"floor rsync on {host} failed: {proc.stderr[-2000:]}")

    with SessionSampler(set(watch)) as sampler:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(width) as pool:
            list(pool.map(pull, jobs))
        seconds = time.perf_counter() - start
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda job: fleet.ssh(job[0], f"rm -rf {FLOOR_DIR}", user="root"), jobs))
    return seconds, sampler


def first_rollout(fleet, site, nodes: int) -> dict:
    """The floor, then the first deploy, on a pristine fleet."""
    summary = inventory_summary(site)
    address = {n["name"]: n["address"] for n in fleet.nodes}
    datasinks = fleet.names("datasinks")
    primary = summary["primary"]
    deploy = pyinfra(site, "deploys/models.py")
    watch = [address[d] for d in datasinks]
    load = os.getloadavg()[0]
    result: dict = {"nodes": nodes, "datasinks": len(datasinks), "probes": PROBES}
    result["standins"] = STANDINS
    if STANDINS == "stopped":
        result["standins_stopped"] = stop_failing_standins(fleet)

    width = window(fleet, primary)
    result["window"] = width
    seconds, sampled = floor(fleet, summary, address, width, watch)
    result["floor_s"] = round(seconds, 2)
    result["floor_peak_ssh_sessions"] = {n: sampled.peak.get(address[n], 0) for n in datasinks}
    first = must(timed(deploy, watch=watch), "first deploy")
    received = first.received()
    result |= {
        "first_s": round(first.seconds, 2),
        "first_over_floor": ratio(first.seconds, result["floor_s"]),
        "primary_sent_mb": round(
            sum(n for n, src in received.values() if src == address[primary]) / 1e6, 1
        ),
        "controller_cpu_s": round(first.cpu_s, 1),
        "controller_cpu_ms_per_node": round(first.cpu_s * 1000 / nodes, 1),
        "controller_rss_mb": round(first.max_rss_mb, 1),
        "controller_rss_kb_per_node": round(first.max_rss_mb * 1024 / nodes, 1),
        "peak_ssh_sessions": {n: first.sessions.get(address[n], 0) for n in datasinks},
        "session_samples": first.samples,
        "load_before": round(load, 2),
        "load_after_first": round(os.getloadavg()[0], 2),
    }
    return result


def fresh_site(nodes: int):
    """A pristine fleet of ``nodes`` and a site set up on it (probes as PROBES says)."""
    fleet = fleet_of(nodes)
    site = site_for(fleet, SCALE, settle=0)
    if PROBES == "off":
        for model in demo.load_registry(site.registry).models:
            site.set_model_keys(model, probe=None)
    return fleet, site


def measure(nodes: int) -> dict:
    # The first rollout FIRST_REPEAT times, each on a fresh fleet against its own floor: the median
    # ratio is reported (its run's other figures with it), and every ratio.
    attempts = []
    for attempt in range(FIRST_REPEAT):
        fleet, site = fresh_site(nodes)
        attempts.append(first_rollout(fleet, site, nodes))
        if attempt < FIRST_REPEAT - 1:
            shutil.rmtree(site.root, ignore_errors=True)
    ratios = [a["first_over_floor"] for a in attempts]
    result = sorted(attempts, key=lambda a: a["first_over_floor"])[(len(attempts) - 1) // 2]
    if len(attempts) > 1:
        result["first_over_floor_all"] = ratios
        # Each attempt's two sides: which of them moved when a ratio did.
        result["floor_and_first_all"] = [[a["floor_s"], a["first_s"]] for a in attempts]
    summary = inventory_summary(site)
    address = {n["name"]: n["address"] for n in fleet.nodes}
    datasinks = fleet.names("datasinks")
    deploy = pyinfra(site, "deploys/models.py")
    watch = [address[d] for d in datasinks]
    primary = summary["primary"]
    base, noop = [], []
    for _ in range(REPEAT):
        fact_s, deploy_s = fact_then_converged(site, deploy)
        base.append(fact_s)
        noop.append(deploy_s)
    result |= {
        "fact_s": median(base),
        "converged_s": median(noop),
        "converged_over_fact": ratio(median(noop), median(base)),
    }

    mirrors = [d for d in datasinks if d != primary][:2]
    if len(mirrors) == 2:
        result |= mirrored(site, summary, mirrors, address, deploy, watch)
    shutil.rmtree(site.root, ignore_errors=True)
    return result


def mirrored(site, summary, mirrors, address, deploy, watch) -> dict:
    """Half the non-datasink nodes behind each mirror; a new version whose every byte changed."""
    clients = [h for h, info in summary["hosts"].items() if not info["datasink"]]
    for index, host in enumerate(clients):
        site.set_data(host, model_registry_host=mirrors[index % 2])
    run = site.pyinfra("deploys/trust.py")
    if run.returncode:
        raise SystemExit(run.output[-4000:])
    must(timed(deploy), "deploy that fills the mirrors")
    model = "openface_torch"
    source = site.root / "mirror-version"
    source.mkdir()
    changed = 0
    for name, size in catalog.spec(model).demo_sizes.items():
        # A valid file of its format (the store's checks refuse random bytes), all of it new:
        # only its few header bytes match the version before, less than one rsync block.
        data = demo.model_bytes(model, "2026-11-20", name, max(16, int(size * SCALE)))
        (source / name).write_bytes(data)
        changed += len(data)
    LocalStore(site.store).publish(
        model, "2026-11-20", source, list(catalog.spec(model).required_files())
    )
    site.push()
    site.set_current(model, "2026-11-20", summary["current"][model])
    run = must(timed(deploy, watch=watch), "mirrored rollout")
    received = run.received()
    sent = sum(n for n, src in received.values() if src == address[summary["primary"]])
    return {
        "mirrored_changed_bytes": changed,
        "mirrored_primary_sent_bytes": sent,
        "mirrored_primary_over_two_copies": round(sent / (2 * changed), 3),
        "mirrored_rollout_s": round(run.seconds, 2),
        "mirrored_peak_ssh_sessions": {
            name: run.sessions.get(address[name], 0) for name in [summary["primary"], *mirrors]
        },
    }


def table(results: list[dict]) -> str:
    lines = [
        f"Measured {datetime.date.today()} on {platform.node()} ({os.cpu_count()} cores), models at "
        f"{SCALE:g} of their real sizes:",
        "",
        "| nodes | fact | converged | ratio | floor | first rollout | ratio | primary sent | "
        "controller CPU | peak RSS | peak SSH sessions (primary) | mirrored: primary / 2 copies |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        primary_sessions = max(r["peak_ssh_sessions"].values()) if r["peak_ssh_sessions"] else 0
        mirrored = r.get("mirrored_primary_over_two_copies")
        lines.append(
            f"| {r['nodes']} | {r['fact_s']} s | {r['converged_s']} s | {r['converged_over_fact']} | "
            f"{r['floor_s']} s | {r['first_s']} s | {r['first_over_floor']} | "
            f"{r['primary_sent_mb']} MB | {r['controller_cpu_s']} s | {r['controller_rss_mb']} MB | "
            f"{primary_sessions} (window {r['window']}) | {mirrored if mirrored is not None else '-'} |"
        )
    return "\n".join(lines)


def merged(kept: list[dict], new: list[dict]) -> list[dict]:
    """The results file's entries with this run's sizes replaced (other sizes kept), by size."""
    sizes = {r["nodes"] for r in new}
    return sorted([r for r in kept if r.get("nodes") not in sizes] + new, key=lambda r: r["nodes"])


def main() -> None:
    results: list[dict] = []
    out = REPO / "benchmarks" / "results-scale.json"
    kept = json.loads(out.read_text()) if out.exists() else []
    for nodes in SIZES:
        print(f"--- {nodes} nodes", flush=True)
        results.append(measure(nodes))
        print(json.dumps(results[-1], indent=2), flush=True)
        # what is measured so far is kept, with the sizes this run does not measure
        out.write_text(json.dumps(merged(kept, results), indent=2) + "\n")
    print(table(results))
    fleet_mod.log("scale benchmark done")


if __name__ == "__main__":
    main()
