"""What a host's deploy would change, as text an operator reads before the first deploy (like
Ansible's ``--check --diff``): the versions it pulls or adopts, the unified diff of every config
file it writes or patches, the services it restarts, and what it refuses. Pure: a host's actions
(core.rollout.decide) and the node's state in, lines out.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from .nodestate import NodeState
from .rollout import HostActions


def _diff(dest: str, old: str | None, new: str) -> list[str]:
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=dest if old is not None else "/dev/null",
        tofile=dest,
    )
    return [line.rstrip("\r\n") for line in lines]


def plan_lines(
    actions: HostActions,
    node: NodeState,
    has_datapump: bool = False,
    other_writes: Sequence[tuple[str, str | None, str]] = (),
) -> list[str]:
    """The plan of one host, one line per item (diff lines included); ``["no change"]`` when the
    deploy would do nothing there. ``other_writes``: (dest, old, new) of files written outside the
    host's actions (the primary's retention policy)."""
    out: list[str] = []
    for dest, old, new in other_writes:
        if old != new:
            out.append(f"{'create' if old is None else 'write'} {dest}:")
            out += [f"    {line}" for line in _diff(dest, old, new)]
    if actions.refused:
        return out + [f"refused: {line}" for line in actions.refused]
    for session in actions.pulls:
        for item in session.items:
            info = node.versions(item.models_path, item.model).get(item.version)
            if info is not None and info.digest is None:
                how = "adopt in place (a copy without manifest: hashed, files that differ pulled)"
            elif info is not None:
                how = "repair in place (differs from the store's manifest)"
            elif item.link:
                how = f"pull (unchanged files linked from {item.link})"
            else:
                how = "pull"
            out.append(
                f"{item.model} {item.version}: {how} into {item.models_path} from {session.source}"
            )
    if actions.staging:
        out += [f"remove leftover staging {path}" for path in actions.staging]
    if actions.facelist:
        fl = actions.facelist
        what = "copy and link" if fl.needs_files else "link"
        out.append(f"face list {fl.version}: {what} facelist_current.csv in {fl.directory}")
    if actions.carry:
        c = actions.carry
        out.append(
            f"carry {', '.join(c.files)} from {c.from_version} to {c.to_version} in {c.model_dir}"
        )
    if actions.problems:
        out += [f"configs refused: {line}" for line in actions.problems]
    else:
        for write in actions.configs:
            verb = "create" if write.old_text is None else "patch" if write.restarts else "write"
            out.append(f"{verb} {write.dest}:")
            out += [f"    {line}" for line in _diff(write.dest, write.old_text, write.text)]
        restarts = list(actions.restarts)
        if actions.facelist and has_datapump and "datapump" not in restarts:
            restarts.append("datapump")
        out += [f"restart {service}" for service in restarts]
        if actions.gate is not None and actions.gate.versions:
            switched = ", ".join(f"{m} {v}" for m, v in sorted(actions.gate.versions.items()))
            out.append(f"health gate on the switch to {switched} (reverts the configs if it fails)")
    for prune in actions.prune:
        out.append(f"prune {prune.model} {', '.join(prune.versions)} in {prune.models_path}")
    return out or ["no change"]
