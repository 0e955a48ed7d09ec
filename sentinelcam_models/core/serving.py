"""Which versions each key may read on a datasink (issue 23.3), as values.

A node's key is authorized on a datasink for ``rrsync -ro STORE/.served/NAME`` only, NAME being its
role set (``sentinel``, ``outpost``, ``datasink``, or several joined by ``+``). That root holds
hard links to exactly what hosts with that role set pull from that datasink: their models'
versions (the datasink role: the mirrors' copies and face lists), and ``coral_packages/`` where
Coral hosts pull. Outposts never run a face model, so their root never holds face data; uploads
(``STORE/.upload-*``) are in no root. store/served.py keeps the links.
"""

from __future__ import annotations

from .coral import coral_roles
from .plan import MIRROR
from .settings import HostSettings
from .validation import CheckedInventory

SERVED_DIR = ".served"


def root_name(settings: HostSettings) -> str:
    """The served root a host's key reads: its role set."""
    roles = settings.roles
    found = [
        name
        for name, has in (
            ("datasink", roles.datasink),
            ("outpost", roles.outpost),
            ("sentinel", roles.sentinel),
        )
        if has
    ]
    return "+".join(found) or "node"


def root_path(store: str, name: str) -> str:
    """``STORE/.served/NAME`` (the forced rrsync root)."""
    return f"{store}/{SERVED_DIR}/{name}"


def served_roots(
    checked: CheckedInventory, datasink: str
) -> tuple[dict[str, list[str]], list[str]]:
    """``({root name: [model/version, ...]}, [root names that get coral_packages/])`` for every
    host of the inventory that pulls from ``datasink`` (the whole fleet: a run limited to a few
    hosts must not take away what the others pull)."""
    roots: dict[str, set[str]] = {}
    coral: set[str] = set()
    for name, settings in checked.settings.items():
        plan = checked.plans[name]
        items: set[str] = set()
        if plan.source == datasink:
            items |= {p.key for p in plan.placements if p.role != MIRROR}
            if plan.facelist:
                items.add(plan.facelist.key)
        if datasink == checked.primary:
            items |= {p.key for p in plan.placements if p.role == MIRROR}
        wants_coral = datasink == checked.primary and bool(coral_roles(settings))
        if not items and not wants_coral:
            continue
        root = root_name(settings)
        roots.setdefault(root, set()).update(items)
        if wants_coral:
            coral.add(root)
    return {name: sorted(items) for name, items in sorted(roots.items())}, sorted(coral)
