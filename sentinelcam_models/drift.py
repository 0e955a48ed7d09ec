"""What runs where: compare each host's plan with what its node reports, and render the result.

Pure: plans + NodeModels facts in, a report out (table rows, JSON document, Prometheus text).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from .configs import config_files
from .plan import DATAPUMP, HostPlan

STATUSES = ("ok", "drift", "missing", "corrupt", "unreachable")
SCHEMA_ID = "sentinelcam-models/drift/v1"
_VERSION_IN_REF = re.compile(r"/([a-z0-9_]+)/(\d{4}-\d{2}-\d{2})/$")
_FACELIST_REF = re.compile(r"^facelist_(\d{4}-\d{2}-\d{2})\.csv$")


@dataclass
class ModelRow:
    model: str
    role: str
    desired: str
    pinned: bool
    active: list[str] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    status: str = "ok"
    detail: str = ""


@dataclass
class HostReport:
    host: str
    reachable: bool
    error: str | None = None
    services: dict[str, str] = field(default_factory=dict)
    models: list[ModelRow] = field(default_factory=list)
    # Coral hosts: the runtime's desired vs installed versions (sentinelcam_models.coral.assess)
    coral: dict | None = None


def fact_arguments(plan: HostPlan, data) -> dict:
    """The NodeModels arguments for a host: its models paths, configs, services, face list dir."""
    return {
        "models_paths": sorted({p.models_path for p in plan.placements}),
        "configs": [c.dest for c in config_files(plan, data)],
        "services": list(plan.services),
        "facelists": plan.facelist.directory if plan.facelist else "",
    }


def assess_host(plan: HostPlan, fact: dict | None, error: str | None = None, deep: bool = False) -> HostReport:
    if fact is None:
        rows = [ModelRow(p.model, p.role, p.version, p.pinned, status="unreachable") for p in plan.placements]
        if plan.facelist:
            rows.append(ModelRow("face_recognition", DATAPUMP, plan.facelist.version, False, status="unreachable"))
        return HostReport(plan.host, False, error or "unreachable", {}, rows)

    refs = [ref for refs in fact.get("active", {}).values() for ref in refs]
    report = HostReport(plan.host, True, None, dict(fact.get("services", {})))
    for p in plan.placements:
        versions = fact.get("installed", {}).get(p.models_path, {}).get(p.model, {}).get("versions", {})
        active = sorted({m.group(2) for ref in refs if ref.startswith(p.models_path + "/")
                         for m in [_VERSION_IN_REF.search(ref)] if m and m.group(1) == p.model})
        complete = sorted(v for v, info in versions.items() if info.get("complete"))
        row = ModelRow(p.model, p.role, p.version, p.pinned, active,
                       sorted(v for v in complete if v != p.version and v not in active))
        wanted = versions.get(p.version)
        broken = [v for v in {p.version, *active} if deep and versions.get(v, {}).get("intact") is False]
        if broken:
            row.status, row.detail = "corrupt", f"{', '.join(sorted(broken))} differs from its manifest"
        elif active != [p.version]:
            row.status = "drift"
            row.detail = f"configs use {', '.join(active) or 'nothing'}"
            if not (wanted and wanted.get("complete")):
                row.detail += f"; {p.version} is not installed yet"
        elif not (wanted and wanted.get("complete")):
            row.status, row.detail = "missing", f"{p.version} is not installed"
        report.models.append(row)
    if plan.facelist:
        fl = plan.facelist
        active = sorted({m.group(1) for ref in refs for m in [_FACELIST_REF.match(ref)] if m})
        present = sorted(m.group(1) for name in fact.get("facelists", []) for m in [_FACELIST_REF.match(name)] if m)
        row = ModelRow("face_recognition", DATAPUMP, fl.version, False, active,
                       [v for v in present if v != fl.version and v not in active])
        if active != [fl.version]:
            row.status, row.detail = "drift", f"datapump uses {', '.join(active) or 'nothing'}"
        elif fl.version not in present:
            row.status, row.detail = "missing", f"facelist_{fl.version}.csv is not on the datasink"
        report.models.append(row)
    return report


def summary(reports: list[HostReport]) -> dict[str, int]:
    counts = Counter(row.status for report in reports for row in report.models)
    counts["unreachable"] = counts.get("unreachable", 0)
    return {status: counts.get(status, 0) for status in STATUSES}


def exit_code(reports: list[HostReport]) -> int:
    if any(not r.reachable for r in reports):
        return 2
    if any(row.status != "ok" for r in reports for row in r.models):
        return 1
    if any(r.coral and r.coral["status"] != "ok" for r in reports):
        return 1
    return 0


def to_document(reports: list[HostReport], inventory: str, deep: bool, now: _dt.datetime | None = None) -> dict:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return {
        "schema": SCHEMA_ID,
        "generated": now.isoformat(timespec="seconds"),
        "inventory": inventory,
        "deep": deep,
        "hosts": [asdict(r) for r in reports],
        "summary": summary(reports),
        "exit_code": exit_code(reports),
    }


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_prometheus(reports: list[HostReport], now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    lines = [
        "# HELP sentinelcam_model_status Model status on a host: 1 for the current status, 0 for the others.",
        "# TYPE sentinelcam_model_status gauge",
    ]
    for report in reports:
        for row in report.models:
            for status in STATUSES:
                lines.append(
                    f'sentinelcam_model_status{{host="{_label(report.host)}",model="{_label(row.model)}",'
                    f'role="{_label(row.role)}",status="{status}"}} {1 if row.status == status else 0}'
                )
    lines += [
        "# HELP sentinelcam_host_reachable Whether the drift check reached the host.",
        "# TYPE sentinelcam_host_reachable gauge",
    ]
    lines += [f'sentinelcam_host_reachable{{host="{_label(r.host)}"}} {1 if r.reachable else 0}' for r in reports]
    lines += [
        "# HELP sentinelcam_drift_timestamp_seconds When the drift check ran.",
        "# TYPE sentinelcam_drift_timestamp_seconds gauge",
        f"sentinelcam_drift_timestamp_seconds {now.timestamp():.0f}",
    ]
    return "\n".join(lines) + "\n"
