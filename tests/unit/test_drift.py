"""Drift assessment (pure): statuses, JSON document schema, Prometheus text."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sentinelcam_models import drift
from sentinelcam_models.plan import plan_host
from sentinelcam_models.registry import parse_registry

from tests.support.units import REGISTRY, host

registry, _ = parse_registry(REGISTRY)
SCHEMA = json.loads((Path(drift.__file__).parent / "drift_schema.json").read_text())
SENTINEL = host("sentinel1", "sentinels")
PLAN = plan_host(SENTINEL, registry)


def healthy_fact(plan, deep=False):
    installed, active = {}, {}
    for p in plan.placements:
        info = {"digest": "d", "complete": True}
        if deep:
            info["intact"] = True
        installed.setdefault(p.models_path, {})[p.model] = {"versions": {p.version: info}, "staging": []}
        active.setdefault("/home/ops/sentinel.yaml", []).append(p.path + "/")
    return {"installed": installed, "active": active, "services": {"sentinel": "active"}, "facelists": []}


def statuses(report):
    return {row.model: row.status for row in report.models}


def test_all_ok():
    report = drift.assess_host(PLAN, healthy_fact(PLAN))
    assert set(statuses(report).values()) == {"ok"}
    assert drift.exit_code([report]) == 0


def test_active_differs_from_desired_is_drift():
    fact = healthy_fact(PLAN)
    refs = fact["active"]["/home/ops/sentinel.yaml"]
    refs[:] = [r.replace("face_recognition/2026-02-02", "face_recognition/2025-02-25") for r in refs]
    fact["installed"]["/home/ops/sentinel/models"]["face_recognition"]["versions"]["2025-02-25"] = {"digest": "x", "complete": True}
    report = drift.assess_host(PLAN, fact)
    row = next(r for r in report.models if r.model == "face_recognition")
    assert (row.status, row.active, row.installed) == ("drift", ["2025-02-25"], [])
    assert drift.exit_code([report]) == 1


def test_desired_not_installed_is_missing_and_inactive_versions_listed():
    fact = healthy_fact(PLAN)
    versions = fact["installed"]["/home/ops/sentinel/models"]["haarcascades"]["versions"]
    versions["2019-01-01"] = versions.pop("2020-12-06")
    report = drift.assess_host(PLAN, fact)
    row = next(r for r in report.models if r.model == "haarcascades")
    assert row.status == "missing" and row.installed == ["2019-01-01"]


def test_corrupt_only_with_deep():
    fact = healthy_fact(PLAN, deep=True)
    fact["installed"]["/home/ops/sentinel/models"]["openface_torch"]["versions"]["2020-12-06"]["intact"] = False
    assert statuses(drift.assess_host(PLAN, fact, deep=True))["openface_torch"] == "corrupt"
    assert statuses(drift.assess_host(PLAN, fact, deep=False))["openface_torch"] == "ok"


def test_unreachable_host_exits_2_and_others_still_reported():
    down = drift.assess_host(PLAN, None, "cannot connect over SSH")
    up = drift.assess_host(PLAN, healthy_fact(PLAN))
    assert set(statuses(down).values()) == {"unreachable"}
    assert drift.exit_code([down, up]) == 2
    assert drift.summary([down, up])["unreachable"] == len(PLAN.placements)


def test_datasink_facelist_rows():
    plan = plan_host(host("data2", "datasinks"), registry)
    fact = {"installed": {}, "active": {"/home/ops/datapump.yaml": ["facelist_2026-02-02.csv"]},
            "services": {"datapump": "active"}, "facelists": ["facelist_2026-02-02.csv", "facelist_2025-02-25.csv"]}
    [row] = drift.assess_host(plan, fact).models
    assert (row.status, row.installed) == ("ok", ["2025-02-25"])
    fact["facelists"] = []
    assert drift.assess_host(plan, fact).models[0].status == "missing"


def test_json_document_matches_documented_schema():
    reports = [drift.assess_host(PLAN, healthy_fact(PLAN)), drift.assess_host(PLAN, None, "down")]
    doc = drift.to_document(reports, "inventories/demo.py", deep=False)
    jsonschema.validate(doc, SCHEMA)
    bad = dict(doc, summary={"ok": "many"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_prometheus_text_parses_with_one_hot_status():
    reports = [drift.assess_host(PLAN, healthy_fact(PLAN)), drift.assess_host(plan_host(host("s2", "sentinels"), registry), None)]
    families = {f.name: f for f in text_string_to_metric_families(drift.to_prometheus(reports))}
    samples = families["sentinelcam_model_status"].samples
    ones = {(s.labels["host"], s.labels["model"]): s.labels["status"] for s in samples if s.value == 1}
    assert ones[("sentinel1", "face_recognition")] == "ok"
    assert ones[("s2", "face_recognition")] == "unreachable"
    assert len(samples) == len(drift.STATUSES) * 2 * len(PLAN.placements)


def test_coral_entry_in_the_document_and_the_exit_code():
    from sentinelcam_models import coral

    roles = [coral.CoralRole("sentinel", "/home/ops/.virtualenvs/py3cv4")]
    desired = coral.desired_versions(registry.coral_packages)
    fact = {"libedgetpu": desired["libedgetpu"],
            "venvs": {roles[0].venv: {"tflite_runtime": desired["tflite_runtime"], "pycoral": "2.0.2"}}}
    report = drift.assess_host(PLAN, healthy_fact(PLAN))
    assert report.coral is None and drift.exit_code([report]) == 0
    jsonschema.validate(drift.to_document([report], "inv.py", False), SCHEMA)   # null on non-coral hosts
    report.coral = coral.assess(registry.coral_packages, roles, fact)
    assert report.coral["status"] == "drift" and report.coral["detail"] == f"pycoral 2.0.2, want {desired['pycoral']}"
    assert drift.exit_code([report]) == 1
    doc = drift.to_document([report], "inv.py", False)
    jsonschema.validate(doc, SCHEMA)
    assert doc["hosts"][0]["coral"]["installed"][roles[0].venv]["pycoral"] == "2.0.2"
    doc["hosts"][0]["coral"]["status"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
