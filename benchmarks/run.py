#!/usr/bin/env python3
"""Benchmarks on a 20-node local fleet, each a ratio against a baseline measured in the same run.

    make bench            (or: NODES=20 .venv/bin/python benchmarks/run.py; as root)

1. no-op deploy:  converged `pyinfra -y … deploys/models.py` / `pyinfra -y … fact server.Hostname` (≤ 3)
2. drift:         `sentinelcam-models drift` / `pyinfra … fact server.Hostname`                  (≤ 2)
3. delta bytes:   a new version in which 90% of the bytes are unchanged: bytes each receiving node
                  pulled / bytes of the files that changed                                        (≤ 1.1)
4. rollback:      `sentinelcam-models rollback MODEL --previous --yes` end to end (edit, commit,
                  config redeploy), wall time; no Install operation moves bytes                 (≤ 5 s)
5. bad version:   a version every user's service or probe refuses, deployed fleet-wide: the time
                  from the start until every node runs its previous version again (the run ends
                  when the last gate has reverted) / a converged no-op deploy
6. gate overhead: on a good rollout, how long each node's health gate held it beyond the settle
                  period (the gate records its own duration on the node)

Times are medians of interleaved repetitions. Results are printed and written to
benchmarks/results.json.
"""

from __future__ import annotations

import json
import os
import shutil

from common import (
    GIT_ENV,
    REPO,
    cli,
    fact_then_converged,
    fleet_of,
    inventory_summary,
    median,
    must,
    pyinfra,
    ratio,
    site_for,
    timed,
)

from sentinelcam_models.core import catalog
from sentinelcam_models.store.local import LocalStore

NODES = int(os.environ.get("NODES", "20"))
REPEAT = int(os.environ.get("REPEAT", "3"))
SCALE = float(os.environ.get("SCALE", "0.01"))
SETTLE = 2  # seconds (the default is 20; the overhead beyond it is what is measured)
PROBE = "/usr/local/bin/sentinelcam-standin probe"


def publish_files(site, model: str, version: str, files: dict[str, bytes]) -> None:
    source = site.root / f"src-{model}-{version}"
    source.mkdir()
    for name, data in files.items():
        (source / name).write_bytes(data)
    LocalStore(site.store).publish(
        model, version, source, list(catalog.spec(model).required_files())
    )
    site.push()


def main() -> None:
    fleet = fleet_of(NODES)
    site = site_for(fleet, SCALE, settle=SETTLE)
    results: dict = {"nodes": NODES, "scale": SCALE, "settle_s": SETTLE}
    deploy = pyinfra(site, "deploys/models.py")
    must(timed(deploy), "first deploy")

    # 1 + 2: interleaved repetitions against the same baseline.
    base, noop, drift = [], [], []
    for _ in range(REPEAT):
        fact_s, deploy_s = fact_then_converged(site, deploy)
        base.append(fact_s)
        noop.append(deploy_s)
        drift.append(must(timed(cli(site, "drift")), "drift").seconds)
    results |= {
        "hostname_fact_s": median(base),
        "noop_deploy_s": median(noop),
        "noop_deploy_ratio": ratio(median(noop), median(base)),
        "drift_s": median(drift),
        "drift_ratio": ratio(median(drift), median(base)),
    }

    # 3: a new openface_torch version sharing 90% of its bytes with the current one.
    unchanged, changed = os.urandom(9_000_000), 1_000_000
    weights = "openface_nn4.small2.v1.t7"
    publish_files(
        site, "openface_torch", "2026-10-01", {weights: unchanged, "extra.bin": os.urandom(changed)}
    )
    publish_files(
        site, "openface_torch", "2026-10-02", {weights: unchanged, "extra.bin": os.urandom(changed)}
    )
    site.set_current("openface_torch", "2026-10-01", "2020-03-25")
    must(timed(deploy), "deploy of 2026-10-01")
    site.set_current("openface_torch", "2026-10-02", "2026-10-01")
    received = must(timed(deploy), "deploy of 2026-10-02").received()
    if not received:
        raise SystemExit("no node reported the bytes it received")
    worst = max(count for count, _ in received.values())
    results |= {
        "delta_changed_bytes": changed,
        "delta_received_bytes_max": worst,
        "delta_receiving_nodes": len(received),
        "delta_ratio": round(worst / changed, 3),
    }

    # 4: rollback on the whole fleet, in the inventory's git repository.
    env = {**GIT_ENV, "SENTINELCAM_ACTION_LOG": str(site.root / "actions.log")}
    times = []
    for _ in range(2):  # 2026-10-02 -> 2026-10-01 -> 2026-10-02: both on every node already
        run = must(
            timed(cli(site, "rollback", "openface_torch", "--previous", "--yes"), env), "rollback"
        )
        installs = [op for op in run.run().changed_ops() if op.startswith("Install")]
        if installs:
            raise SystemExit(f"rollback moved model bytes: {installs}")
        times.append(run.seconds)
    results["rollback_s"] = round(max(times), 3)

    # 5 + 6: a bad and a good version of the model most hosts run, its probe set in the registry.
    summary = inventory_summary(site)
    model = max(("mobilenet_ssd", "mobilenet_ssd_edgetpu"), key=lambda m: len(summary["users"][m]))
    users = summary["users"][model]
    old = summary["current"][model]
    site.set_probe(model, PROBE)
    must(timed(deploy), "deploy with the probe")
    noop = [must(timed(deploy), "no-op deploy").seconds for _ in range(REPEAT)]
    site.publish_broken(model, "2026-11-01")
    site.set_current(model, "2026-11-01", old)
    bad = timed(deploy)
    if bad.returncode == 0:
        raise SystemExit("the bad version was not refused")
    report = json.loads(site.cli("drift", "--json").stdout)
    reverted = [
        h["host"] for h in report["hosts"] if (h.get("gate") or {}).get("status") == "reverted"
    ]
    still_bad = [
        h["host"]
        for h in report["hosts"]
        for row in h["models"]
        if row["model"] == model and "2026-11-01" in (row.get("active") or [])
    ]
    if still_bad or not reverted:
        raise SystemExit(f"hosts still on the bad version: {still_bad}; reverted: {reverted}")
    results |= {
        "bad_model": model,
        "bad_users": len(users),
        "bad_reverted_nodes": len(
            reverted
        ),  # users whose configs name the model (the others: no change)
        "bad_deploy_s": round(bad.seconds, 3),
        "converged_noop_s": median(noop),
        "bad_to_noop_ratio": ratio(bad.seconds, median(noop)),
    }
    site.publish(model, "2026-11-02")
    site.set_current(model, "2026-11-02", old)
    good = must(timed(deploy), "good rollout")
    held = []
    for host in reverted:  # the users whose configs name the model
        record = json.loads(fleet.ssh(host, "cat /home/ops/.sentinelcam/health.json").stdout)
        # the settle period applies to a restarted service; a probe-gated sentinel has none
        settle = 0 if record["detail"].startswith("no restarted service") else SETTLE
        held.append(record["seconds"] - settle)
    results |= {
        "good_rollout_s": round(good.seconds, 3),
        "gate_overhead_s_median": round(sorted(held)[len(held) // 2], 2),
        "gate_overhead_s_max": round(max(held), 2),
    }

    print(json.dumps(results, indent=2))
    (REPO / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(site.root, ignore_errors=True)


if __name__ == "__main__":
    main()
