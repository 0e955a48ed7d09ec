"""Staged rollouts, pure: canary hosts first, then the remaining hosts in waves, with a stop rule.

A rollout of MODEL to VERSION is a recorded state (``inventories/rollouts/MODEL.json``, committed
with every step) that moves through these stages:

- ``canary``: the canary hosts are pinned to VERSION and deployed; each must pass its health gate.
- ``promote``: the registry's current version moves to VERSION (previous <- the old current), the
  canary pins go, and every host not yet reached is held at the old version by a temporary pin.
- ``wave-N``: the hold pins of wave N go and its hosts are deployed and gated.
- ``done``; or ``stopped`` when a stage had more failed hosts than ``max_failed``: the registry is
  back at the old version, every temporary pin is gone and the hosts it had reached are
  deployed back (the failed ones were already reverted by their gate). ``undone``: the same, asked
  for by the operator.

Resuming a stopped rollout starts again at the canaries; resuming an interrupted one continues
at its recorded stage.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from . import names
from .problems import BadInput, one_line

FINAL_STAGES = ("done", "stopped", "undone")


def parse_waves(spec: str) -> tuple[int, ...]:
    """``"25%,100%"`` -> (25, 100): increasing percentages of the remaining hosts, ending at 100."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    values = []
    for part in parts:
        number = part[:-1] if part.endswith("%") else part
        if not number.isdigit() or not 0 < int(number) <= 100:
            raise BadInput(f"--waves {spec!r}: {part!r} is not a percentage from 1% to 100%")
        values.append(int(number))
    if not values or values[-1] != 100 or any(b <= a for a, b in itertools.pairwise(values)):
        raise BadInput(f"--waves {spec!r}: increasing percentages that end at 100%, e.g. 25%,100%")
    return tuple(values)


def split_waves(hosts: list[str], percents: tuple[int, ...]) -> list[list[str]]:
    """Cumulative percentages of ``hosts`` (in order) -> the hosts of each wave (none empty)."""
    waves: list[list[str]] = []
    done = 0
    for percent in percents:
        upto = max(done, math.ceil(len(hosts) * percent / 100))
        if upto > done:
            waves.append(hosts[done:upto])
            done = upto
    return waves


@dataclass
class Rollout:
    model: str
    version: str
    old_current: str
    old_previous: str | None
    canary: list[str]
    waves: list[list[str]]
    max_failed: int = 0
    stage: str = "canary"
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # host -> why (the failing check)
    held: list[str] = field(default_factory=list)  # hosts pinned to old_current right now
    steps: list[str] = field(default_factory=list)  # what happened, in order

    @property
    def active(self) -> bool:
        return self.stage not in FINAL_STAGES

    @property
    def wave_index(self) -> int | None:
        return int(self.stage.split("-")[1]) - 1 if self.stage.startswith("wave-") else None

    def pending(self) -> list[str]:
        """Hosts the rollout has not reached yet."""
        reached = set(self.passed) | set(self.failed)
        return [h for wave in self.waves for h in wave if h not in reached]

    def reached(self) -> list[str]:
        """Hosts whose pins the rollout has released so far: their configs may name the new
        version, even if a run was interrupted before it judged them (moved back on a stop)."""
        index = self.wave_index
        upto = len(self.waves) if self.stage == "done" else (0 if index is None else index + 1)
        return [*self.canary, *(h for wave in self.waves[:upto] for h in wave)]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Rollout:
        """A recorded state, parsed as strictly as the registry: every key known, every model,
        version and host name through the validators, one line per problem (joined)."""
        problems = state_problems(data)
        if problems:
            raise BadInput("not a rollout state: " + "; ".join(problems))
        return cls(**data)


STATE_FIELDS = {
    "model",
    "version",
    "old_current",
    "old_previous",
    "canary",
    "waves",
    "max_failed",
    "stage",
    "passed",
    "failed",
    "held",
    "steps",
}
REQUIRED_FIELDS = {"model", "version", "old_current", "old_previous", "canary", "waves"}


def _stage_ok(stage: object, waves: object) -> bool:
    if stage in ("canary", "promote", *FINAL_STAGES):
        return True
    if not isinstance(stage, str) or not stage.startswith("wave-"):
        return False
    number = stage[len("wave-") :]
    count = len(waves) if isinstance(waves, list) else 0
    return number.isdigit() and number == str(int(number)) and 1 <= int(number) <= count


def _hosts(value: object) -> bool:
    return isinstance(value, list) and all(names.is_host_name(h) for h in value)


def state_problems(data: Any) -> list[str]:
    """Every problem of a rollout state document, one printable line each."""
    if not isinstance(data, dict):
        return ["a rollout state must be a mapping"]
    problems = [f"unknown key {one_line(repr(k))[:60]}" for k in data if k not in STATE_FIELDS]
    problems += [f"{k} is missing" for k in sorted(REQUIRED_FIELDS - set(data))]
    if problems:
        return problems
    if not names.is_model_name(data["model"]):
        problems.append("model is not a model name")
    for key in ("version", "old_current"):
        if not names.is_version(data[key]):
            problems.append(f"{key} is not a version (YYYY-MM-DD)")
    if data["old_previous"] is not None and not names.is_version(data["old_previous"]):
        problems.append("old_previous is not a version (YYYY-MM-DD) or null")
    for key in ("canary", "passed", "held"):
        if key in data and not _hosts(data[key]):
            problems.append(f"{key} is not a list of host names")
    waves = data["waves"]
    if not isinstance(waves, list) or not all(_hosts(w) for w in waves):
        problems.append("waves is not a list of lists of host names")
    failed = data.get("failed", {})
    if not isinstance(failed, dict) or not all(
        names.is_host_name(h) and isinstance(why, str) for h, why in failed.items()
    ):
        problems.append("failed is not a mapping of host name -> reason")
    max_failed = data.get("max_failed", 0)
    if isinstance(max_failed, bool) or not isinstance(max_failed, int) or max_failed < 0:
        problems.append("max_failed is not a whole number >= 0")
    if not _stage_ok(data.get("stage", "canary"), waves):
        problems.append("stage is not canary, promote, wave-N, done, stopped or undone")
    steps = data.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        problems.append("steps is not a list of lines")
    return problems


def plan(
    model: str,
    version: str,
    old_current: str,
    old_previous: str | None,
    users: list[str],
    canary: list[str],
    waves_spec: str,
    max_failed: int,
) -> Rollout:
    """The rollout of ``model`` to ``version`` over ``users`` (the hosts that run it, unpinned)."""
    if max_failed < 0:
        raise BadInput("--max-failed must be 0 or more")
    unknown = [h for h in canary if h not in users]
    if unknown:
        raise BadInput(
            f"--canary {', '.join(unknown)}: not a host that runs {model} at the registry's version"
        )
    if not canary:
        raise BadInput("--canary: name at least one host")
    rest = [h for h in users if h not in canary]
    return Rollout(
        model,
        version,
        old_current,
        old_previous,
        list(canary),
        split_waves(rest, parse_waves(waves_spec)),
        max_failed,
    )
