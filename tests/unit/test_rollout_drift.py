"""What a host's deploy does (core.rollout.decide) and what drift says, from hand-built node states."""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sentinelcam_models.core import drift
from sentinelcam_models.core.configs import render, sentinel_task_files
from sentinelcam_models.core.nodestate import InstalledVersion, NodeState, ServiceState
from sentinelcam_models.core.planview import plan_lines
from sentinelcam_models.core.rollout import decide
from sentinelcam_models.core.validation import CheckedInventory, check_inventory
from sentinelcam_models.paths import template_text
from tests.support.units import ROOT, host, registry

M = "/home/ops/sentinel/models"
DIGEST = "d" * 64
TEMPLATES = {
    f"sentinel/tasks/{n}.j2": template_text(f"sentinel/tasks/{n}.j2")
    for n in (
        "GetFaces.yaml",
        "MobileNetSSD_allFrames.yaml",
        "FaceRecon.yaml",
        "FaceSweep.yaml",
        "FaceDataUpdate.yaml",
    )
}


def checked(**data) -> CheckedInventory:
    result = check_inventory(
        registry(),
        [],
        [
            host("s1", "sentinels", sentinel_accelerator_type="cpu", **data),
            host("data1", "datasinks"),
            host("data2", "datasinks"),
        ],
        "inv.py",
    )
    assert isinstance(result, CheckedInventory), result
    return result


def digests(c: CheckedInventory) -> dict[str, str]:
    return {key: DIGEST for plan in c.plans.values() for key in plan.wanted}


def converged(c: CheckedInventory, name: str = "s1", **overrides) -> NodeState:
    """A node that holds and runs exactly its plan."""
    plan, settings = c.plans[name], c.settings[name]
    installed: dict = {}
    for p in plan.placements:
        installed.setdefault(p.models_path, {}).setdefault(p.model, {})[p.version] = (
            InstalledVersion(DIGEST, True)
        )
    for model, versions in overrides.pop("extra", {}).items():
        for version, info in versions.items():
            installed[M].setdefault(model, {})[version] = info
    configs = {
        f.dest: render(TEMPLATES[f.template], f.values)
        for f in sentinel_task_files(settings, plan, c.registry)
    }
    configs.update(overrides.pop("configs", {}))
    return NodeState(
        installed=MappingProxyType(installed),
        configs=MappingProxyType(configs),
        services=MappingProxyType({"sentinel": ServiceState("active", 0)}),
        login="ops",
        **overrides,
    )


def actions(c, node, name="s1"):
    previous = {n: e.previous_version for n, e in c.registry.models.items()}
    return decide(
        c.settings[name], c.plans[name], c.registry, digests(c), node, TEMPLATES, previous
    )


def test_a_converged_node_does_nothing():
    c = checked()
    done = actions(c, converged(c))
    assert (done.pulls, done.configs, done.restarts, done.gate, done.prune, done.staging) == (
        (),
        (),
        (),
        None,
        (),
        (),
    )


def test_a_new_version_is_pulled_linked_to_the_installed_one_then_switched_and_gated():
    c = checked(model_version_overrides={"haarcascades": "2026-03-01"})
    node = converged(checked())  # still on 2020-03-25
    done = actions(c, node)
    [session] = done.pulls
    [item] = session.items
    assert (item.model, item.version, item.link, item.keep_node_owned) == (
        "haarcascades",
        "2026-03-01",
        "2020-03-25",
        False,
    )
    # the three face task files name haarcascades; task files never restart the sentinel
    assert sorted(w.slot for w in done.configs) == [
        "FaceDataUpdate.yaml",
        "FaceRecon.yaml",
        "FaceSweep.yaml",
    ]
    assert all(w.restarts is None for w in done.configs) and done.restarts == ()
    assert done.gate.versions == {"haarcascades": "2026-03-01"}
    assert [r.text for r in done.gate.revert] == [w.old_text for w in done.configs]


def test_a_version_whose_digest_differs_is_reinstalled_keeping_node_files():
    c = checked()
    node = converged(
        c, extra={"face_recognition": {"2026-02-02": InstalledVersion("e" * 64, True)}}
    )
    [session] = actions(c, node).pulls
    [item] = session.items
    assert (item.model, item.keep_node_owned, item.node_owned) == (
        "face_recognition",
        True,
        ("facelist.csv", "facedata.hdf5"),
    )


def test_deep_verification_reinstalls_a_corrupt_version():
    c = checked(verify_models="deep")
    node = converged(
        c, extra={"openface_torch": {"2020-03-25": InstalledVersion(DIGEST, True, intact=False)}}
    )
    assert [i.model for s in actions(c, node).pulls for i in s.items] == ["openface_torch"]


def test_models_filter_refuses_a_host_whose_configs_would_name_a_missing_version():
    c = checked(models="haarcascades", model_version_overrides={"face_detection": "2026-08-08"})
    done = actions(c, converged(checked()))
    assert done.refused == (
        "face_detection 2026-08-08 is not installed and --data models= leaves it out; "
        "add it to models= or deploy without models=",
    )


def test_staging_left_by_the_deploy_is_cleared_except_a_resumable_partial():
    c = checked(model_version_overrides={"haarcascades": "2026-03-01"})
    node = converged(
        checked(),
        staging=MappingProxyType(
            {M: (("haarcascades", ".2026-03-01.partial"), ("haarcascades", ".2019-01-01.old"))}
        ),
    )
    assert actions(c, node).staging == (f"{M}/haarcascades/.2019-01-01.old",)


def test_pruning_keeps_desired_previous_active_and_spares():
    c = checked()
    old = {
        v: InstalledVersion(DIGEST, True)
        for v in ("2019-01-01", "2019-02-01", "2019-03-01", "2019-04-01")
    }
    old["2018-01-01"] = InstalledVersion(None, False)  # no manifest: not a version pruning removes
    node = converged(c, extra={"haarcascades": old})
    [prune] = actions(c, node).prune
    # desired 2020-03-25 kept, node_model_retention (2) newest others kept, the rest removed
    assert (prune.model, prune.versions) == ("haarcascades", ("2019-02-01", "2019-01-01"))


def test_face_state_carry_moves_the_working_files_to_the_new_version():
    c = checked(face_state="carry", model_version_overrides={"face_recognition": "2026-09-09"})
    node = converged(
        checked(), extra={"face_recognition": {"2026-09-09": InstalledVersion(DIGEST, True)}}
    )
    carry = actions(c, node).carry
    assert (carry.from_version, carry.to_version, carry.files) == (
        "2026-02-02",
        "2026-09-09",
        ("facelist.csv", "facedata.hdf5"),
    )
    assert (
        actions(checked(model_version_overrides={"face_recognition": "2026-09-09"}), node).carry
        is None
    )


def test_drift_rows_statuses_node_modified_and_gate():
    c = checked(model_version_overrides={"haarcascades": "2026-03-01"})
    node = converged(
        checked(),
        extra={
            "face_recognition": {
                "2026-02-02": InstalledVersion(DIGEST, True, node_modified=("facelist.csv",))
            }
        },
        health=MappingProxyType({"status": "reverted", "detail": "probe failed", "time": "t"}),
    )
    report = drift.assess_host(c.settings["s1"], c.plans["s1"], node)
    rows = {r.model: r for r in report.models}
    assert rows["haarcascades"].status == "drift"
    assert "2026-03-01 is not installed yet" in rows["haarcascades"].detail
    assert rows["face_recognition"].node_modified == ["facelist.csv (2026-02-02)"]
    assert report.gate == {"status": "reverted", "detail": "probe failed", "time": "t"}
    assert drift.exit_code([report]) == 1
    unreachable = drift.assess_host(
        c.settings["s1"], c.plans["s1"], None, "cannot connect over SSH"
    )
    assert {r.status for r in unreachable.models} == {"unreachable"} and drift.exit_code(
        [unreachable]
    ) == 2


def test_drift_document_and_prometheus():
    c = checked()
    reports = [
        drift.assess_host(c.settings["s1"], c.plans["s1"], converged(c)),
        drift.assess_host(c.settings["data2"], c.plans["data2"], None, "down"),
    ]
    document = drift.to_document(reports, "inv.py", False)
    schema = json.loads((ROOT / "sentinelcam_models" / "drift_schema.json").read_text())
    jsonschema.validate(document, schema)
    assert document["schema"] == "sentinelcam-models/drift/v2" and document["exit_code"] == 2
    families = {f.name: f for f in text_string_to_metric_families(drift.to_prometheus(reports))}
    ok = [
        s
        for s in families["sentinelcam_model_status"].samples
        if s.labels["host"] == "s1" and s.labels["status"] == "ok"
    ]
    assert ok and all(s.value == 1 for s in ok)


@pytest.mark.parametrize("path", sorted((ROOT / "templates" / "sentinel" / "tasks").glob("*.j2")))
def test_every_task_template_is_one_the_deploy_renders(path):
    assert f"sentinel/tasks/{path.name}" in TEMPLATES and Path(path).read_text().startswith(
        "%YAML 1.0\n---\n"
    )


def test_a_host_whose_answer_was_refused_is_error_with_its_reason_in_a_valid_document():
    c = checked()
    refused = NodeState(failure="node state refused: nested deeper than 16 levels")
    reports = [
        drift.assess_host(c.settings["s1"], c.plans["s1"], refused),
        drift.assess_host(c.settings["data2"], c.plans["data2"], converged(c)),
    ]
    assert {r.status for r in reports[0].models} == {"error"}
    assert reports[0].error == "node state refused: nested deeper than 16 levels"
    assert drift.exit_code(reports) == 2
    document = drift.to_document(reports, "inv.py", False)
    schema = json.loads((ROOT / "sentinelcam_models" / "drift_schema.json").read_text())
    jsonschema.validate(document, schema)


# sentinel.yaml (role-owned, read only) gives the Alpha engine, which runs GetFaces, the accelerator
# the sentinel loads its model with (sentinelcam-configs.md §3.1, §3.2).
SENTINEL_YAML = """\
%YAML 1.0
---
task_engines:
  Alpha:
    classes: [1]
    accelerator: {alpha}
  Bravo1:
    classes: [2]
    accelerator: cpu
"""


def test_a_sentinel_whose_sentinel_yaml_disagrees_installs_models_but_writes_no_config():
    c = checked(model_version_overrides={"haarcascades": "2026-03-01"})
    node = converged(
        checked(), configs={"/home/ops/sentinel.yaml": SENTINEL_YAML.format(alpha="coral")}
    )
    done = actions(c, node)
    assert [i.version for s in done.pulls for i in s.items] == ["2026-03-01"]  # models install
    [line] = done.problems  # the deploy refuses every config write of the host on this line
    assert line.startswith("/home/ops/sentinel.yaml: ")
    assert "coral" in line and "sentinel_accelerator_type is cpu" in line
    # drift shows it on the sentinel's rows, even where the versions match
    report = drift.assess_host(c.settings["s1"], c.plans["s1"], node)
    assert {r.detail for r in report.models} == {f"refused: {line}"}
    assert drift.exit_code([report]) == 1


def test_a_sentinel_whose_sentinel_yaml_agrees_is_not_refused():
    c = checked()
    node = converged(c, configs={"/home/ops/sentinel.yaml": SENTINEL_YAML.format(alpha="cpu")})
    assert actions(c, node).problems == ()
    report = drift.assess_host(c.settings["s1"], c.plans["s1"], node)
    assert drift.exit_code([report]) == 0


def test_drift_names_a_datasink_whose_facefile_is_the_original_s_override():
    c = checked()
    datapump = "facefile: /home/ops/sentinelcam/faces/facelist_gamma4.csv\n"
    node = converged(c, "data2", configs={"/home/ops/datapump.yaml": datapump})
    done = actions(c, node, "data2")
    [line] = done.problems
    assert "facelist_gamma4.csv" in line and "faces_data_file" in line
    report = drift.assess_host(c.settings["data2"], c.plans["data2"], node)
    [row] = [r for r in report.models if r.role == "datapump"]
    assert (row.status, row.detail) == ("drift", f"refused: {line}")


def test_the_plan_shows_pulls_adoptions_config_diffs_and_restarts():
    c = checked(model_version_overrides={"haarcascades": "2026-03-01"})
    # face_recognition is the original's copy: there, but without a manifest
    node = converged(
        checked(), extra={"face_recognition": {"2026-02-02": InstalledVersion(None, False)}}
    )
    lines = plan_lines(actions(c, node), node)
    assert (
        f"haarcascades 2026-03-01: pull (unchanged files linked from 2020-03-25) into {M} from data1"
        in lines
    )
    assert any(line.startswith("face_recognition 2026-02-02: adopt in place") for line in lines)
    i = lines.index("write /home/ops/sentinel/tasks/FaceRecon.yaml:")
    assert lines[i + 1 : i + 3] == [
        "    --- /home/ops/sentinel/tasks/FaceRecon.yaml",
        "    +++ /home/ops/sentinel/tasks/FaceRecon.yaml",
    ]
    assert f"    -  haarcascade_path: {M}/haarcascades/2020-03-25/haarcascade_eye.xml" in lines
    assert f"    +  haarcascade_path: {M}/haarcascades/2026-03-01/haarcascade_eye.xml" in lines
    assert not any(line.startswith("restart ") for line in lines)  # task files: read per job
    assert plan_lines(actions(checked(), converged(checked())), converged(checked())) == [
        "no change"
    ]


def test_the_plan_of_a_refused_config_says_why_and_writes_nothing():
    c = checked()
    node = converged(c, "data2", configs={"/home/ops/datapump.yaml": "facefile: /x/gamma4.csv\n"})
    lines = plan_lines(actions(c, node, "data2"), node, has_datapump=True)
    assert [line for line in lines if line.startswith("configs refused: ")] != []
    assert not any(line.startswith(("patch ", "write ", "restart ")) for line in lines)


def test_drift_json_carries_the_engines_accelerators_of_a_sentinel_only():
    c = checked()
    node = converged(c, configs={"/home/ops/sentinel.yaml": SENTINEL_YAML.format(alpha="coral")})
    reports = [
        drift.assess_host(c.settings["s1"], c.plans["s1"], node),
        drift.assess_host(c.settings["data2"], c.plans["data2"], converged(c, "data2")),
    ]
    document = drift.to_document(reports, "inv.py", False)
    schema = json.loads((ROOT / "sentinelcam_models" / "drift_schema.json").read_text())
    jsonschema.validate(document, schema)
    s1, data2 = document["hosts"]
    assert s1["accelerators"]["engines"] == {"Alpha": "coral", "Bravo1": "cpu"}
    assert s1["accelerators"]["sentinel_accelerator_type"] == "cpu"
    assert s1["accelerators"]["status"] == "drift"
    assert "sentinel_accelerator_type is cpu" in s1["accelerators"]["detail"]
    assert data2["accelerators"] is None
    assert document["exit_code"] == 1
    bad = json.loads(json.dumps(document))
    bad["hosts"][0]["accelerators"]["status"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
