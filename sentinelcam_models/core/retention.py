"""Retention: which versions of a model the store keeps, and the policy document the cleanup reads.

Keep the current version, the previous one, every version a host pins and the N newest others;
remove the rest. The datasink that runs the weekly cleanup does not hold the inventory, so the
deploy writes what the inventory says now (current, previous, pins) as a JSON policy beside the
store, and the cleanup decides from that document alone:

    {"keep": 5, "models": {"face_recognition": {"current_version": "2026-02-02",
                                                 "previous_version": "2025-02-25",
                                                 "pins": {"2024-01-01": ["sentinel2"]}}}}

The document is parsed strictly: a cleanup that misread it would delete versions a node needs.
Pure and standard library only (it runs on the datasink inside the store agent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import names
from .problems import one_line

_POLICY_KEYS = {"keep", "models"}
_MODEL_KEYS = {"current_version", "previous_version", "pins"}


@dataclass(frozen=True)
class Decision:
    """What the cleanup does to one model: versions kept (newest first, with why) and removed."""

    model: str
    keep: dict[str, str]
    remove: list[str]


def choose(
    model: str,
    versions: list[str],
    current: str | None,
    previous: str | None,
    pins: Mapping[str, list[str]],
    keep_newest: int,
) -> Decision:
    """Keep current, previous, pinned (``pins``: version -> hosts) and the ``keep_newest`` newest
    others; remove the rest. Newest = latest date; both lists are newest first.

    Raises ValueError for a negative ``keep_newest`` (a typo must not mean "keep nothing") and for
    a name that is not a version (the caller passes date-named directories only).
    """
    if isinstance(keep_newest, bool) or not isinstance(keep_newest, int) or keep_newest < 0:
        raise ValueError(f"keep must be a whole number >= 0, not {keep_newest!r}")
    for version in versions:
        if not names.is_version(version):
            raise ValueError(f"{model}: {names.describe_version_error(version)}")
    reasons: dict[str, list[str]] = {}
    for version in sorted(set(versions), reverse=True):
        why = []
        if version == current:
            why.append("current")
        if version == previous:
            why.append("previous")
        if pins.get(version):
            why.append("pinned by " + ", ".join(sorted(set(pins[version]))))
        if why:
            reasons[version] = why
    others = [v for v in sorted(set(versions), reverse=True) if v not in reasons]
    for version in others[:keep_newest]:
        reasons[version] = ["newest"]
    keep = {v: "; ".join(reasons[v]) for v in sorted(reasons, reverse=True)}
    return Decision(model, keep, others[keep_newest:])


@dataclass(frozen=True)
class ModelPolicy:
    current_version: str
    previous_version: str | None
    pins: dict[str, list[str]]  # version -> hosts pinning it (sorted)


@dataclass(frozen=True)
class Policy:
    keep: int
    models: dict[str, ModelPolicy]

    def decide(self, model: str, versions: list[str], keep: int | None = None) -> Decision:
        """The decision for a model named in the policy (``keep`` overrides the policy's N)."""
        entry = self.models[model]
        return choose(
            model,
            versions,
            entry.current_version,
            entry.previous_version,
            entry.pins,
            self.keep if keep is None else keep,
        )


def make_policy(
    keep: int,
    versions: Mapping[str, tuple[str, str | None]],
    host_pins: Mapping[str, Mapping[str, str]],
) -> Policy:
    """The policy from the registry (model -> (current, previous)) and each host's pins
    (host -> {model: version}). A pin of a model the registry does not name is left out: the
    cleanup only ever touches models the policy names, so that model's versions all stay.
    """
    pins: dict[str, dict[str, set[str]]] = {model: {} for model in versions}
    for host, host_models in host_pins.items():
        for model, version in host_models.items():
            if model in pins:
                pins[model].setdefault(version, set()).add(host)
    models = {
        model: ModelPolicy(
            current, previous, {v: sorted(hosts) for v, hosts in sorted(pins[model].items())}
        )
        for model, (current, previous) in sorted(versions.items())
    }
    policy = Policy(keep, models)
    _, problems = parse_policy(policy_document(policy))
    if problems:
        raise ValueError("; ".join(problems))
    return policy


def policy_document(policy: Policy) -> dict:
    """The JSON document of a policy (what ``parse_policy`` reads back)."""
    return {
        "keep": policy.keep,
        "models": {
            model: {
                "current_version": entry.current_version,
                "previous_version": entry.previous_version,
                "pins": {v: list(hosts) for v, hosts in entry.pins.items()},
            }
            for model, entry in policy.models.items()
        },
    }


def parse_policy(data: object) -> tuple[Policy | None, list[str]]:
    """The policy and one line per problem (None when there is any problem)."""
    where = "retention policy"
    if not isinstance(data, dict):
        return None, [f"{where}: must be a JSON object with keep and models"]
    problems = [
        f"{where}: unknown key {key!r}" for key in sorted(set(data) - _POLICY_KEYS, key=str)
    ]
    problems += [f"{where}: {key} is missing" for key in sorted(_POLICY_KEYS - set(data))]
    keep = data.get("keep")
    if "keep" in data and not _is_count(keep):
        problems.append(f"{where}: keep must be a whole number >= 0, not {keep!r}")
    raw_models = data.get("models")
    models: dict[str, ModelPolicy] = {}
    if "models" in data and not isinstance(raw_models, dict):
        problems.append(f"{where}: models must be an object (model -> versions and pins)")
    elif isinstance(raw_models, dict):
        for model, entry in raw_models.items():
            parsed = _parse_model(f"{where}: models.{model}", model, entry, problems)
            if parsed is not None:
                models[model] = parsed
    if problems:
        return None, [one_line(p) for p in problems]
    assert isinstance(keep, int)
    return Policy(keep, models), []


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _parse_model(
    where: str, model: object, entry: object, problems: list[str]
) -> ModelPolicy | None:
    before = len(problems)
    if not names.is_model_name(model):
        problems.append(f"{where}: {model!r} is not a model name ([a-z0-9_]+)")
    if not isinstance(entry, dict):
        problems.append(f"{where}: must be an object with current_version, previous_version, pins")
        return None
    problems += [
        f"{where}: unknown key {key!r}" for key in sorted(set(entry) - _MODEL_KEYS, key=str)
    ]
    problems += [f"{where}: {key} is missing" for key in sorted(_MODEL_KEYS - set(entry))]
    current = entry.get("current_version")
    if "current_version" in entry and not names.is_version(current):
        problems.append(f"{where}.current_version: {names.describe_version_error(current)}")
    previous = entry.get("previous_version")
    if previous is not None and not names.is_version(previous):
        problems.append(
            f"{where}.previous_version: {names.describe_version_error(previous)} or null"
        )
    raw_pins = entry.get("pins")
    pins: dict[str, list[str]] = {}
    if "pins" in entry and not isinstance(raw_pins, dict):
        problems.append(f"{where}.pins: must be an object (version -> hosts)")
    elif isinstance(raw_pins, dict):
        for version, hosts in raw_pins.items():
            if not names.is_version(version):
                problems.append(f"{where}.pins: {names.describe_version_error(version)}")
            elif (
                not isinstance(hosts, list)
                or not hosts
                or not all(names.is_host_name(h) for h in hosts)
            ):
                problems.append(f"{where}.pins.{version}: must be a non-empty list of host names")
            else:
                pins[version] = sorted(set(hosts))
    if len(problems) > before:
        return None
    assert isinstance(current, str)
    return ModelPolicy(current, previous, pins)
