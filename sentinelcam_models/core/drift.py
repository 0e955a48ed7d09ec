"""What runs where: each host's plan against what its node reports, as rows, a JSON document and
Prometheus text. Pure: plans and NodeStates in, a report out.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import asdict, dataclass, field

from . import catalog
from .configs import config_refusals
from .coral import assess as assess_coral
from .coral import coral_fact, coral_roles
from .nodestate import NodeState
from .plan import DATAPUMP, IMAGENODE, MIRROR, HostPlan
from .registry import CoralPackages
from .rollout import active_versions, config_paths
from .sentinelconf import engines_entry
from .settings import HostSettings

STATUSES = ("ok", "drift", "missing", "corrupt", "unreachable", "error")
SCHEMA_ID = "sentinelcam-models/drift/v2"


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
    node_modified: list[str] = field(default_factory=list)  # "facelist.csv (2026-02-02)"


@dataclass
class HostReport:
    host: str
    reachable: bool
    error: str | None = None
    services: dict[str, str] = field(default_factory=dict)
    models: list[ModelRow] = field(default_factory=list)
    coral: dict | None = None
    gate: dict | None = None  # the last rollout's health gate: passed / reverted (why) / pending
    accelerators: dict | None = (
        None  # a sentinel: sentinel.yaml's engine accelerators (sentinelconf)
    )


def _unreachable(plan: HostPlan, error: str, status: str = "unreachable") -> HostReport:
    rows = [ModelRow(p.model, p.role, p.version, p.pinned, status=status) for p in plan.placements]
    if plan.facelist:
        rows.append(
            ModelRow(catalog.FACE_MODEL, DATAPUMP, plan.facelist.version, False, status=status)
        )
    return HostReport(plan.host, False, error, {}, rows)


def gate_entry(node: NodeState, pending: str | None = None) -> dict | None:
    if pending:
        return {"status": "pending", "detail": pending, "time": None}
    record = node.health
    if not record:
        return None
    status = record.get("status")
    if status not in ("passed", "reverted", "failed"):
        return None
    return {"status": status, "detail": str(record.get("detail") or ""), "time": record.get("time")}


def assess_host(
    settings: HostSettings,
    plan: HostPlan,
    node: NodeState | None,
    error: str | None = None,
    deep: bool = False,
    coral: CoralPackages | None = None,
    pending: str | None = None,
) -> HostReport:
    if node is None or node.failure:
        # No answer (unreachable), or an answer that was refused (error): this host only.
        failed = node is not None and node.failure is not None
        report = _unreachable(
            plan,
            (node.failure if failed and node else error) or "unreachable",
            "error" if failed else "unreachable",
        )
        roles = coral_roles(settings)
        report.coral = (
            assess_coral(coral, roles, None, reachable=False) if coral and roles else None
        )
        report.gate = gate_entry(NodeState(), pending)
        return report
    report = HostReport(plan.host, True, None, {s: v.active for s, v in node.services.items()})
    active_by_model = active_versions(plan, node, config_paths(settings))
    for p in plan.placements:
        versions = node.versions(p.models_path, p.model)
        complete = sorted(v for v, info in versions.items() if info.complete)
        modified = [
            f"{name} ({v})" for v, info in sorted(versions.items()) for name in info.node_modified
        ]
        if p.role == MIRROR:
            row = ModelRow(
                p.model,
                p.role,
                p.version,
                False,
                [],
                [v for v in complete if v != p.version],
                node_modified=[],
            )
            if p.version not in complete:
                row.status, row.detail = "missing", f"{p.version} is not in this mirror's store"
            report.models.append(row)
            continue
        active = sorted(active_by_model.get(p.model, set()))
        row = ModelRow(
            p.model,
            p.role,
            p.version,
            p.pinned,
            active,
            [v for v in complete if v != p.version and v not in active],
            node_modified=modified,
        )
        wanted = versions.get(p.version)
        broken = sorted(
            v
            for v in {p.version, *active}
            if deep and versions.get(v) and versions[v].intact is False
        )
        if broken:
            row.status, row.detail = "corrupt", f"{', '.join(broken)} differs from its manifest"
        elif not active and p.role == IMAGENODE:
            # outpost_models may list a model no camera uses now (alpha5 keeps both mobilenets).
            row.detail = "no camera in imagenode.yaml names it"
            if not (wanted and wanted.complete):
                row.status, row.detail = "missing", f"{p.version} is not installed"
        elif active != [p.version]:
            row.status = "drift"
            row.detail = f"configs use {', '.join(active) or 'nothing'}"
            if not (wanted and wanted.complete):
                row.detail += f"; {p.version} is not installed yet"
        elif not (wanted and wanted.complete):
            row.status, row.detail = "missing", f"{p.version} is not installed"
        report.models.append(row)
    if plan.facelist:
        fl = plan.facelist
        active = sorted(active_by_model.get(catalog.FACE_MODEL, set()))
        present = sorted(n[len("facelist_") : -len(".csv")] for n in node.facelists)
        row = ModelRow(
            catalog.FACE_MODEL,
            DATAPUMP,
            fl.version,
            fl.version in settings.pins.values(),
            active,
            [v for v in present if v != fl.version and v not in active],
        )
        if settings.faces_data_file and settings.faces_data_file != fl.csv:
            row.detail = f"datapump reads {settings.faces_data_file} (faces_data_file)"
            if fl.version not in present:
                row.status, row.detail = (
                    "missing",
                    f"facelist_{fl.version}.csv is not on the datasink",
                )
        elif active != [fl.version]:
            row.status, row.detail = "drift", f"datapump uses {', '.join(active) or 'nothing'}"
        elif fl.version not in present:
            row.status, row.detail = "missing", f"facelist_{fl.version}.csv is not on the datasink"
        report.models.append(row)
    # A config the deploy refuses on this host (sentinel.yaml's accelerator, DepthAI v2, an
    # override of facefile): the rows of that role say so, whatever versions the files name.
    refusals = config_refusals(settings, plan, node.configs)
    for row in report.models:
        line = refusals.get(row.role)
        if line and row.status in ("ok", "drift"):
            row.status, row.detail = "drift", f"refused: {line}"
    roles = coral_roles(settings)
    if coral and roles:
        report.coral = assess_coral(coral, roles, coral_fact(node.coral), True)
    report.gate = gate_entry(node, pending)
    if settings.roles.sentinel:
        path = settings.path("sentinel_config_path")
        report.accelerators = engines_entry(
            path, node.configs.get(path), settings.sentinel_accelerator
        )
    return report


def summary(reports: list[HostReport]) -> dict[str, int]:
    counts = Counter(row.status for report in reports for row in report.models)
    return {status: counts.get(status, 0) for status in STATUSES}


def exit_code(reports: list[HostReport]) -> int:
    if any(not r.reachable for r in reports):
        return 2
    if any(row.status != "ok" for r in reports for row in r.models):
        return 1
    if any(r.coral and r.coral["status"] != "ok" for r in reports):
        return 1
    if any(r.accelerators and r.accelerators["status"] != "ok" for r in reports):
        return 1
    if any(r.gate and r.gate["status"] in ("reverted", "failed") for r in reports):
        return 1
    return 0


def to_document(
    reports: list[HostReport], inventory: str, deep: bool, now: _dt.datetime | None = None
) -> dict:
    now = now or _dt.datetime.now(_dt.UTC)
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
    now = now or _dt.datetime.now(_dt.UTC)
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
        "# HELP sentinelcam_face_files_node_modified Node-owned face files that differ from the store.",
        "# TYPE sentinelcam_face_files_node_modified gauge",
    ]
    for report in reports:
        count = sum(len(row.node_modified) for row in report.models)
        lines.append(
            f'sentinelcam_face_files_node_modified{{host="{_label(report.host)}"}} {count}'
        )
    lines += [
        "# HELP sentinelcam_host_reachable Whether the drift check reached the host.",
        "# TYPE sentinelcam_host_reachable gauge",
    ]
    lines += [
        f'sentinelcam_host_reachable{{host="{_label(r.host)}"}} {1 if r.reachable else 0}'
        for r in reports
    ]
    lines += [
        "# HELP sentinelcam_drift_timestamp_seconds When the drift check ran.",
        "# TYPE sentinelcam_drift_timestamp_seconds gauge",
        f"sentinelcam_drift_timestamp_seconds {now.timestamp():.0f}",
    ]
    return "\n".join(lines) + "\n"
