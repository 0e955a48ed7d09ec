#!/usr/bin/env python3
"""Retention: which model versions to keep in the store, and the cleanup that applies it.

Keep current, previous, every version any host pins, and the N newest others; remove the rest.
Only directories named as real dates are ever considered: `coral_packages/`, staging directories
and stray files are never touched.

Standard library only: deploys/retention.py installs this same file on the primary datasink, whose
weekly timer runs it with the pins the inventory held at deploy time (a JSON policy file).

    python3 retention.py --store /home/ops/sentinelcam/model_registry --policy policy.json [--dry-run]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import fcntl
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

POLICY_FILE = "model_retention_policy.json"  # in sentinelcam_data_path on the primary datasink
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MODEL = re.compile(r"^[a-z0-9_]+$")
CORAL_DIR = "coral_packages"
LOCK_FILE = ".lock"  # shared with publish (sentinelcam_models.store)


def is_version(name: str) -> bool:
    if not _VERSION.match(name):
        return False
    try:
        _dt.date.fromisoformat(name)
    except ValueError:
        return False
    return True


@dataclass
class Decision:
    model: str
    keep: dict[str, str] = field(default_factory=dict)   # version -> why
    remove: list[str] = field(default_factory=list)


def choose(model: str, versions: list[str], current: str | None, previous: str | None,
           pins: dict[str, list[str]], keep_newest: int) -> Decision:
    """Pure selection. ``pins``: version -> hosts pinning it. Newest = latest date."""
    decision = Decision(model)
    reasons: dict[str, list[str]] = {}
    for version in versions:
        if version == current:
            reasons.setdefault(version, []).append("current")
        if version == previous:
            reasons.setdefault(version, []).append("previous")
        if version in pins:
            reasons.setdefault(version, []).append("pinned by " + ", ".join(sorted(pins[version])))
    others = sorted((v for v in set(versions) if v not in reasons), reverse=True)
    for version in others[:max(keep_newest, 0)]:
        reasons[version] = ["newest"]
    decision.keep = {v: "; ".join(r) for v, r in sorted(reasons.items(), reverse=True)}
    decision.remove = sorted(others[max(keep_newest, 0):], reverse=True)
    return decision


def tree_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def plan_store(store: Path, policy: dict, keep_newest: int) -> list[Decision]:
    decisions = []
    models = policy.get("models", {})
    for entry in sorted(store.iterdir()) if store.is_dir() else []:
        if not entry.is_dir() or entry.is_symlink() or entry.name == CORAL_DIR or not _MODEL.match(entry.name):
            continue
        info = models.get(entry.name, {})
        versions = [p.name for p in entry.iterdir() if p.is_dir() and not p.is_symlink() and is_version(p.name)]
        decisions.append(choose(entry.name, versions, info.get("current_version"), info.get("previous_version"),
                                info.get("pins", {}), keep_newest))
    return decisions


def cleanup(store: Path, policy: dict, keep_newest: int, dry_run: bool, log=print) -> int:
    """Apply the policy under the store lock; return bytes freed (or that would be)."""
    store.mkdir(parents=True, exist_ok=True)
    freed = 0
    with open(store / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # no publish runs meanwhile
        # Under the lock nothing is being published or deleted: hidden leftovers of an interrupted
        # publish (.V.publish-PID) or deletion (.V.deleting) are garbage.
        for leftover in sorted(store.glob("*/.*")):
            if leftover.is_dir() and not leftover.is_symlink() and (
                    leftover.name.endswith(".deleting") or ".publish-" in leftover.name):
                if dry_run:
                    log(f"would remove leftover {leftover.relative_to(store)}")
                else:
                    shutil.rmtree(leftover)
                    log(f"remove leftover {leftover.relative_to(store)}")
        for decision in plan_store(store, policy, keep_newest):
            for version, why in decision.keep.items():
                log(f"keep   {decision.model}/{version} ({why})")
            for version in decision.remove:
                path = store / decision.model / version
                size = tree_size(path)
                freed += size
                if dry_run:
                    log(f"would remove {decision.model}/{version} ({size} bytes)")
                    continue
                # Rename first: a reader never sees a half-deleted version under its real name.
                doomed = store / decision.model / f".{version}.deleting"
                os.rename(path, doomed)
                shutil.rmtree(doomed)
                log(f"remove {decision.model}/{version} ({size} bytes)")
    log(f"{'would free' if dry_run else 'freed'} {freed} bytes")
    return freed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Remove old model versions from the store.")
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--policy", required=True, type=Path, help="JSON: keep, models{current,previous,pins}")
    parser.add_argument("--keep", type=int, default=None)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        policy = json.loads(args.policy.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {args.policy}: {exc}", file=sys.stderr)
        return 2
    keep = args.keep if args.keep is not None else int(policy.get("keep", 5))
    stamp = _dt.datetime.now().isoformat(timespec="seconds")
    lines: list[str] = []

    def log(line: str) -> None:
        print(line)
        lines.append(f"{stamp} {line}\n")

    cleanup(args.store, policy, keep, args.dry_run, log)
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        with open(args.log, "a", encoding="utf-8") as handle:
            handle.writelines(lines)
    return 0


def policy_for(registry, hosts, keep: int) -> dict:
    """The JSON policy from the registry and the inventory's pins (what the timer runs with)."""
    models: dict[str, dict] = {}
    for name, entry in registry.models.items():
        models[name] = {"current_version": entry.current_version, "previous_version": entry.previous_version, "pins": {}}
    for host in hosts:
        for model, version in (host.data.get("model_version_overrides") or {}).items():
            models.setdefault(model, {"current_version": None, "previous_version": None, "pins": {}})
            models[model]["pins"].setdefault(version, []).append(host.name)
    return {"keep": keep, "models": models}


if __name__ == "__main__":
    sys.exit(main())
