"""Shared builders for unit tests: the shipped registry and group defaults, without hosts.

``host()`` builds a ``RawHost`` (name, groups, data) the way pyinfra merges an inventory host's
data: the shipped group data (inventories/group_data/all.py, plus outposts.py for outposts), then
the host's own data. all.py sets no path defaults: they derive in settings.DERIVED.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from sentinelcam_models.core.validation import RawHost

ROOT = Path(__file__).resolve().parents[2]
GROUP_DATA = ROOT / "inventories" / "group_data"
REGISTRY = GROUP_DATA / "model_registry.yaml"


def group_data(name: str) -> dict:
    """The names a group data file defines (what pyinfra reads from it), private ones aside."""
    return {
        key: value
        for key, value in runpy.run_path(str(GROUP_DATA / name)).items()
        if not key.startswith("_")
    }


ALL_DATA = group_data("all.py")
OUTPOST_DATA = group_data("outposts.py")


def host(name: str, *groups: str, **data) -> RawHost:
    """A host with the shipped group data, as pyinfra would merge it, plus ``data``."""
    merged = dict(ALL_DATA)
    if "outposts" in groups:
        merged.update(OUTPOST_DATA)
    merged.update(data)
    return RawHost(name, tuple(groups), merged)


def registry():
    """The shipped registry, parsed (it must be valid)."""
    from sentinelcam_models.core.registry import parse_registry  # noqa: PLC0415

    parsed, problems = parse_registry(str(REGISTRY), REGISTRY.read_text(encoding="utf-8"))
    assert parsed is not None and not problems, problems
    return parsed
