"""One validation for every command and deploy: the registry plus every host's data.

``check_inventory`` returns either a ``CheckedInventory`` (typed settings and plans for every host,
nothing optional that cannot be missing) or ``Refused`` with every problem, one line each, naming
the file, host and key. A fault that comes from shared group data shows on many hosts: it is
reported once, naming them all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import catalog
from .plan import HostPlan, plan_fleet
from .problems import Problem, Refused
from .registry import Registry
from .settings import DATASINKS, HOST_DATA_PROBLEMS, HostSettings, parse_host


@dataclass(frozen=True)
class RawHost:
    """One inventory host as pyinfra merged it: name, groups and data."""

    name: str
    groups: tuple[str, ...]
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CheckedInventory:
    registry: Registry
    settings: Mapping[str, HostSettings]
    plans: Mapping[str, HostPlan]
    primary: str  # the primary datasink's inventory name
    inventory_file: str = "inventory"
    warnings: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(self.settings)

    def users_of(self, model: str, unpinned_only: bool = False) -> list[str]:
        """Hosts whose services use ``model`` (optionally only those not pinned to a version of it)."""
        found = []
        for name, plan in self.plans.items():
            if not plan.uses(model):
                continue
            if unpinned_only and model in self.settings[name].pins:
                continue
            found.append(name)
        return found


def _grouped(file: str, faults: Iterable[tuple[str, str, str]]) -> list[Problem]:
    by_fault: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
    for host, key, message in faults:
        by_fault.setdefault((key, message), []).append(host)
    return [
        Problem(file, key, message, host=", ".join(hosts))
        for (key, message), hosts in by_fault.items()
    ]


def check_inventory(
    registry: Registry | None,
    registry_problems: list[Problem],
    hosts: Iterable[RawHost],
    inventory_file: str = "inventory",
) -> CheckedInventory | Refused:
    """Validate the parsed registry and every host; plan them all if everything is sound."""
    if registry is None or registry_problems:
        return Refused(list(registry_problems) or [Problem(inventory_file, "", "no registry")])
    hosts = tuple(hosts)
    faults: list[tuple[str, str, str]] = []
    notes: list[tuple[str, str, str]] = []
    settings: dict[str, HostSettings] = {}
    file_problems: list[Problem] = []
    for host in hosts:
        carried = host.data.get(HOST_DATA_PROBLEMS)
        if carried:  # the host's own data file is broken: its lines, as they are
            for file, line, key, message in carried:
                problem = Problem(str(file), str(key), str(message), line=line)
                if problem not in file_problems:
                    file_problems.append(problem)
            continue
        parsed, found, warned = parse_host(host.name, host.groups, host.data, registry)
        faults += [(host.name, key, message) for key, message in found]
        notes += [(host.name, key, message) for key, message in warned]
        if parsed is not None:
            settings[host.name] = parsed

    datasinks = {
        host.name for host in hosts if DATASINKS in host.groups
    }  # also those whose data failed
    primaries = sorted({item.primary_datasink for item in settings.values()})
    if len(primaries) > 1:
        faults.append(
            (
                "",
                "primary_datasink",
                f"hosts disagree on the primary datasink: {', '.join(primaries)}",
            )
        )
    for primary in primaries:
        if primary not in datasinks and settings:
            faults.append(("", "primary_datasink", f"{primary!r} is not a host in group datasinks"))
    for name, item in settings.items():
        if item.source not in datasinks and item.source == item.primary_datasink:
            continue  # reported above
        if item.source not in datasinks:
            faults.append(
                (
                    name,
                    "model_registry_host",
                    f"{item.source!r} is not a host in group datasinks (the datasink this host pulls from)",
                )
            )
        elif item.roles.datasink and item.source != item.primary_datasink:
            faults.append(
                (
                    name,
                    "model_registry_host",
                    "a datasink pulls from the primary datasink, not from a mirror",
                )
            )
        if (
            item.roles.datasink
            and not item.roles.primary
            and catalog.FACE_MODEL not in registry.models
        ):
            faults.append(
                (
                    name,
                    "sentinelcam_models",
                    f"a datasink serves the face list of {catalog.FACE_MODEL!r}, which the registry does not define",
                )
            )
        for model in catalog.sentinel_models(item.sentinel_choice) if item.roles.sentinel else ():
            if model not in registry.models:
                faults.append(
                    (
                        name,
                        "sentinelcam_models",
                        f"its task files name model {model!r}, which the registry does not define",
                    )
                )

    problems = file_problems + _grouped(inventory_file, faults)
    if problems:
        return Refused(problems)
    plans = plan_fleet(settings, registry)
    return CheckedInventory(
        registry,
        settings,
        plans,
        primaries[0] if primaries else "",
        inventory_file,
        tuple(_grouped(inventory_file, notes)),
    )
