"""The read-only use cases: drift, list, rollout status, history.

Like the changes (fleet/usecases.py) each takes the command's Session (the inventory loaded and
checked once, one store connection) and returns a typed value the CLI renders; none changes a file,
a host or the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import drift as drift_core
from ..core.problems import BadInput
from ..core.waves import Rollout
from ..paths import registry_file_for
from ..store.git import history as git_history
from . import rollouts
from .answers import StoreVersion, store_versions
from .query import query_fleet, select_hosts
from .session import Session


def _known(session: Session, model: str) -> None:
    registry = session.checked.registry
    if model not in registry.models:
        raise BadInput(
            f"{registry.path}: unknown model {model!r} (known: {', '.join(registry.models)})"
        )


# --- drift --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """What runs where: one report per host the inventory places models on (``--limit``)."""

    reports: list[drift_core.HostReport]
    deep: bool

    @property
    def exit_code(self) -> int:
        return drift_core.exit_code(self.reports)


def drift(
    session: Session, limits: tuple[str, ...], model_filter: tuple[str, ...], deep: bool
) -> Drift:
    """Ask every selected host for its state (one fact each, in parallel) and judge it against
    the registry, its pins and the rollouts in progress."""
    checked = session.checked
    for model in model_filter:
        _known(session, model)
    pyinfra_inventory = session.pyinfra_inventory
    hosts = [
        h
        for h in select_hosts(pyinfra_inventory, limits)
        if checked.plans[h.name].placements or checked.plans[h.name].facelist
    ]
    if limits and not hosts:
        raise BadInput(f"--limit {' '.join(limits)}: no host in {session.inventory} matches")
    facts = query_fleet(pyinfra_inventory, hosts, checked, deep=deep, with_coral=not model_filter)
    pending = rollouts.pending_hosts(checked)
    reports = []
    for host in hosts:
        node, error = facts.get(host.name, (None, "no answer"))
        report = drift_core.assess_host(
            checked.settings[host.name],
            checked.plans[host.name],
            node,
            error,
            deep,
            None if model_filter else checked.registry.coral,
            pending.get(host.name),
        )
        if model_filter:
            report.models = [r for r in report.models if r.model in model_filter]
        reports.append(report)
    return Drift(reports, deep)


# --- list ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelLine:
    model: str
    current_version: str
    previous_version: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "current_version": self.current_version,
            "previous_version": self.previous_version,
        }


def list_models(session: Session) -> list[ModelLine]:
    """Every model of the registry with its current and previous version (no store needed)."""
    return [
        ModelLine(m.name, m.current_version, m.previous_version)
        for m in session.checked.registry.models.values()
    ]


@dataclass(frozen=True)
class VersionLine:
    version: str
    marks: tuple[str, ...]  # CURRENT, PREVIOUS, PINNED (hosts)
    stored: StoreVersion | None  # None: not in the store
    pinned_by: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "marks": list(self.marks),
            "in_store": self.stored is not None,
            "size": self.stored.size if self.stored else None,
            "pinned_by": list(self.pinned_by),
        }


@dataclass(frozen=True)
class VersionList:
    model: str
    where: str
    lines: list[VersionLine] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "store": self.where,
            "versions": [line.to_json() for line in self.lines],
        }


def list_versions(session: Session, model: str) -> VersionList:
    """One model's versions, newest first: in the store, named by the registry or pinned."""
    _known(session, model)
    checked = session.checked
    entry = checked.registry.models[model]
    store = session.store()
    stored = {
        v.version: v for v in store_versions(store.call("versions", model=model), store.where)
    }
    pins: dict[str, list[str]] = {}
    for host, settings in checked.settings.items():
        if model in settings.pins:
            pins.setdefault(settings.pins[model], []).append(host)
    listing = VersionList(model, store.where)
    for version in sorted(set(stored) | set(entry.versions) | set(pins), reverse=True):
        marks = (
            (["CURRENT"] if version == entry.current_version else [])
            + (["PREVIOUS"] if version == entry.previous_version else [])
            + ([f"PINNED ({', '.join(sorted(pins[version]))})"] if version in pins else [])
        )
        listing.lines.append(
            VersionLine(
                version, tuple(marks), stored.get(version), tuple(sorted(pins.get(version, [])))
            )
        )
    return listing


# --- rollout status, history --------------------------------------------------------------------


def rollout_status(session: Session, model: str | None) -> dict[str, Rollout]:
    """Every recorded rollout (or MODEL's), by model."""
    states = rollouts.read_states(session.checked)
    return {name: r for name, r in states.items() if model in (None, name)}


@dataclass(frozen=True)
class VersionChange:
    """One commit that changed the model's current version (git log of the registry file)."""

    commit: str
    date: str
    author: str
    before: str | None
    after: str | None
    subject: str

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "date": self.date,
            "author": self.author,
            "from": self.before,
            "to": self.after,
            "subject": self.subject,
        }


def history(session: Session, model: str) -> list[VersionChange]:
    """MODEL's version changes, newest first, from git (the registry file beside the inventory:
    no inventory load, no store)."""
    rows = git_history(Path(registry_file_for(session.inventory)), model)
    return [
        VersionChange(r["commit"], r["date"], r["author"], r["from"], r["to"], r["subject"])
        for r in rows
    ]
