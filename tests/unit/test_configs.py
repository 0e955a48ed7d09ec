"""Every rendered config parses as YAML and names exactly the planned model files."""

from __future__ import annotations


import pytest
import yaml

from sentinelcam_models.catalog import MODEL_FILES
from sentinelcam_models.configs import config_files, render
from sentinelcam_models.plan import plan_host
from sentinelcam_models.registry import parse_registry

from tests.support.units import REGISTRY, host

registry, _ = parse_registry(REGISTRY)


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


HOSTS = [
    host("sentinel1", "sentinels"),
    host("coral", "sentinels", sentinel_accelerator_type="coral"),
    host("blaze", "sentinels", sentinel_face_detector="blazeface", sentinel_blazeface_variant="full_range"),
    host("pinned", "sentinels", model_version_overrides={"face_recognition": "2025-02-25"}),
    host("east", "outposts"),
    host("alpha5", "outposts", imagenode_accelerator_type="coral",
         outpost_models=["mobilenet_ssd", "mobilenet_ssd_edgetpu", "mobilenet_ssd_depthai", "face_detection"]),
    host("data2", "datasinks"),
    host("both", "sentinels", "outposts"),
]


@pytest.mark.parametrize("h", HOSTS, ids=lambda h: h.name)
def test_every_config_parses_and_names_only_planned_files(h):
    plan = plan_host(h, registry)
    configs = config_files(plan, h.data)
    assert configs, "every role gets at least one config"
    planned_dirs = {p.path for p in plan.placements}
    for config in configs:
        doc = yaml.safe_load(render(config))
        assert isinstance(doc, dict), config.dest
        for value in strings(doc):
            if not value.startswith("/"):
                continue
            if value.startswith(h.data["sentinel_models_path"]) or value.startswith(h.data["imagenode_models_path"]):
                directory, _, name = value.rpartition("/")
                if value in planned_dirs:
                    continue
                assert directory in planned_dirs, (config.dest, value)
                model = directory.split("/")[-2]
                assert name in MODEL_FILES[model], (config.dest, value)


def test_sentinel_task_configs_carry_resolved_paths():
    plan = plan_host(HOSTS[3], registry)
    by_dest = {c.dest: yaml.safe_load(render(c)) for c in config_files(plan, HOSTS[3].data)}
    recon = by_dest["/home/ops/sentinel/tasks/FaceRecon.yaml"]["FaceRecon"]
    assert recon["recognizer"] == "/home/ops/sentinel/models/face_recognition/2025-02-25/facemodel.pickle"
    assert recon["eye_cascade"] == "/home/ops/sentinel/models/haarcascades/2020-12-06/haarcascade_eye.xml"
    assert set(by_dest) == {"/home/ops/sentinel.yaml"} | {f"/home/ops/sentinel/tasks/{t}.yaml" for t in
                            ("FaceRecon", "FaceDataUpdate", "FaceSweep", "GetFaces", "MobileNetSSD_allFrames", "VehicleSpeed", "DailyCleanup")}


def test_blazeface_variant_file_comes_from_the_registry():
    plan = plan_host(HOSTS[2], registry)
    sentinel = yaml.safe_load(render(config_files(plan, HOSTS[2].data)[0]))["sentinel"]
    assert sentinel["face_detection"]["model"].endswith("/face_detection_blazeface/2025-11-20/face_detection_full_range.tflite")
    assert sentinel["face_detection"]["blazeface_variant"] == "full_range"


def test_datapump_points_at_versioned_facelist():
    plan = plan_host(HOSTS[6], registry)
    [config] = config_files(plan, HOSTS[6].data)
    assert yaml.safe_load(render(config))["datapump"]["faces_data_file"] == "/home/ops/sentinelcam/face_recognition/facelist_2026-02-02.csv"
