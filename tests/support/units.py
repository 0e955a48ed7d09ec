"""Shared builders for unit tests: the shipped registry and group defaults, without hosts."""

from __future__ import annotations

import runpy
from pathlib import Path

from sentinelcam_models.plan import HostInfo

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "inventories" / "group_data" / "model_registry.yaml"
ALL_DATA = {k: v for k, v in runpy.run_path(str(ROOT / "inventories" / "group_data" / "all.py")).items()
            if not k.startswith("_")}
OUTPOST_DATA = {k: v for k, v in runpy.run_path(str(ROOT / "inventories" / "group_data" / "outposts.py")).items()
                if not k.startswith("_")}


def host(name: str, *groups: str, **data) -> HostInfo:
    """A host with the shipped group data, as pyinfra would merge it, plus ``data``."""
    merged = dict(ALL_DATA)
    if "outposts" in groups:
        merged.update(OUTPOST_DATA)
    merged.update(data)
    return HostInfo(name, tuple(groups), merged)
