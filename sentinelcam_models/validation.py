"""One validation used by every command and deploy: the registry file plus every host's data.

Returns all problems, each one line naming the file, host and key at fault; callers print them and
exit 2 before anything touches a host.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import names
from .plan import HostInfo, HostPlan, outpost_model_names, plan_host, sentinel_model_names
from .problems import Problem
from .registry import Registry, parse_registry

PATH_KEYS = (
    "sentinelcam_data_path", "sentinelcam_model_registry", "sentinel_models_path", "imagenode_models_path",
    "sentinel_config_path", "sentinel_tasks_path", "imagenode_config_path", "datapump_config_path",
    "sentinel_venv_path", "imagenode_venv_path",
)


@dataclass(frozen=True)
class CheckedInventory:
    registry: Registry | None
    hosts: tuple[HostInfo, ...]
    plans: dict[str, HostPlan]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_host(host: HostInfo, registry: Registry) -> list[tuple[str, str]]:
    """Problems in one host's data, as (key, message) pairs."""
    data = host.data
    found: list[tuple[str, str]] = []
    known = registry.defined  # invalid entries are reported by the registry check, not again here

    pins = data.get("model_version_overrides") or {}
    if not isinstance(pins, dict):
        found.append(("model_version_overrides", "must be a mapping of model -> \"YYYY-MM-DD\""))
        pins = {}
    for model, version in pins.items():
        key = f"model_version_overrides.{model}"
        if model not in known:
            found.append((key, f"pins unknown model {model!r} (not in the registry)"))
        if not names.is_version(version):
            found.append((key, names.describe_version_error(version)))

    outposts = data.get("outpost_models")
    if outposts is not None:
        if not isinstance(outposts, (list, tuple)):
            found.append(("outpost_models", "must be a list of model names"))
        else:
            for model in outposts:
                if model not in known:
                    found.append(("outpost_models", f"names unknown model {model!r}"))

    for key in ("sentinel_accelerator_type", "imagenode_accelerator_type"):
        value = data.get(key, "none")
        if value in names.DEPRECATED_ACCELERATORS:
            found.append((key, f"{value!r}: {names.DEPRECATED_ACCELERATORS[value]}"))
        elif value not in names.ACCELERATORS:
            found.append((key, f"unknown accelerator {value!r} (known: {', '.join(names.ACCELERATORS)})"))

    detector = data.get("sentinel_face_detector", "ssd_mobilenet")
    if detector not in names.FACE_DETECTORS:
        found.append(("sentinel_face_detector", f"unknown face detector {detector!r} (known: {', '.join(names.FACE_DETECTORS)})"))
    elif detector == "blazeface" and host.is_sentinel and "face_detection_blazeface" in known:
        variant = data.get("sentinel_blazeface_variant", "short_range")
        entry = registry.models.get("face_detection_blazeface")
        variants = entry.variants if entry else {}
        if variant not in variants:
            found.append(("sentinel_blazeface_variant", f"{variant!r} is not a variant of face_detection_blazeface (known: {', '.join(variants) or 'none'})"))

    for key in PATH_KEYS:
        if key in data and not names.is_safe_path(data[key]):
            found.append((key, f"{data[key]!r} is not a safe absolute path"))
    for key in ("sentinelcam_user", "sentinelcam_group"):
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and names.USER_NAME.match(value)):
            found.append((key, f"{value!r} is not a valid {key.split('_')[1]} name"))
    for key in ("model_pull_concurrency", "model_pull_tries", "node_model_retention"):
        value = data.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "node_model_retention" else 1):
            found.append((key, f"{value!r} must be a whole number"))
    retention = data.get("sentinelcam_model_retention", 5)
    if not isinstance(retention, int) or isinstance(retention, bool) or retention < 0:
        found.append(("sentinelcam_model_retention", f"{retention!r} must be a whole number >= 0"))

    needed: list[str] = []
    if host.is_sentinel:
        needed += sentinel_model_names(data)
    if host.is_outpost and isinstance(outposts, (list, tuple)):
        needed += [m for m in outpost_model_names(data) if isinstance(m, str)]
    if host.is_datasink:
        needed.append("face_recognition")
    for model in dict.fromkeys(needed):
        if model not in known and not (host.is_outpost and model in (outposts or [])):
            found.append(("sentinelcam_models", f"needs model {model!r}, which the registry does not define"))
    return found


def check_inventory(
    registry_path: str | Path,
    hosts: Iterable[HostInfo],
    inventory_file: str = "inventory",
) -> CheckedInventory:
    """Validate the registry and every host; plan the hosts if everything is sound."""
    hosts = tuple(hosts)
    registry, problems = parse_registry(registry_path)
    plans: dict[str, HostPlan] = {}
    if registry is None:
        return CheckedInventory(None, hosts, plans, problems)

    # Group data is shared, so the same fault often shows on every host: report it once.
    by_fault: "OrderedDict[tuple[str, str], list[str]]" = OrderedDict()
    for host in hosts:
        for key, message in check_host(host, registry):
            by_fault.setdefault((key, message), []).append(host.name)
    for (key, message), host_names in by_fault.items():
        label = host_names[0] if len(host_names) == 1 else ", ".join(host_names)
        problems.append(Problem(inventory_file, key, message, host=label))

    primaries = {h.data.get("primary_datasink") for h in hosts if h.data.get("primary_datasink")}
    datasinks = {h.name for h in hosts if h.is_datasink}
    for primary in sorted(primaries):
        if primary not in datasinks:
            problems.append(Problem(inventory_file, "primary_datasink", f"{primary!r} is not a host in group datasinks"))

    if not problems:
        plans = {host.name: plan_host(host, registry) for host in hosts}
    return CheckedInventory(registry, hosts, plans, problems)
