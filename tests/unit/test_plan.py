"""The per-host plan: which models, which version, which path — pure, no hosts."""

from __future__ import annotations

from sentinelcam_models.plan import IMAGENODE, SENTINEL, plan_host
from sentinelcam_models.registry import parse_registry
from sentinelcam_models.validation import check_inventory

from tests.support.units import REGISTRY, host

registry, _ = parse_registry(REGISTRY)


def test_sentinel_gets_the_models_its_configs_use_at_current_versions():
    plan = plan_host(host("sentinel1", "sentinels"), registry)
    assert plan.models == ("mobilenet_ssd", "face_detection", "haarcascades", "openface_torch", "face_recognition")
    fr = plan.placement("face_recognition")
    assert (fr.version, fr.pinned, fr.role) == ("2026-02-02", False, SENTINEL)
    assert fr.path == "/home/ops/sentinel/models/face_recognition/2026-02-02"
    assert fr.linked_files == ("facelist.csv", "facedata.hdf5")
    assert plan.services == ("sentinel",)


def test_coral_sentinel_gets_edgetpu_models_not_cpu_ones():
    plan = plan_host(host("s", "sentinels", sentinel_accelerator_type="coral"), registry)
    assert "mobilenet_ssd_edgetpu" in plan.models and "face_detection_edgetpu" in plan.models
    assert "mobilenet_ssd" not in plan.models and "face_detection" not in plan.models


def test_blazeface_sentinel():
    plan = plan_host(host("s", "sentinels", sentinel_face_detector="blazeface"), registry)
    assert "face_detection_blazeface" in plan.models and "face_detection" not in plan.models


def test_pin_overrides_current_version_for_that_host_only():
    pinned = plan_host(host("s1", "sentinels", model_version_overrides={"face_recognition": "2025-02-25"}), registry)
    other = plan_host(host("s2", "sentinels"), registry)
    assert pinned.placement("face_recognition").version == "2025-02-25"
    assert pinned.placement("face_recognition").pinned
    assert other.placement("face_recognition").version == "2026-02-02"
    assert pinned.placement("haarcascades").version == other.placement("haarcascades").version


def test_outpost_filter():
    plan = plan_host(host("east", "outposts"), registry)
    assert plan.models == ("mobilenet_ssd",)
    assert plan.placement("mobilenet_ssd").path == "/home/ops/imagenode/models/mobilenet_ssd/2020-12-06"
    more = plan_host(host("alpha5", "outposts", outpost_models=["mobilenet_ssd", "face_detection"]), registry)
    assert more.models == ("mobilenet_ssd", "face_detection")
    assert more.services == ("imagenode",)


def test_host_in_two_groups_gets_both_roles_paths():
    plan = plan_host(host("both", "sentinels", "outposts"), registry)
    assert plan.placement("mobilenet_ssd", SENTINEL).path.startswith("/home/ops/sentinel/models/")
    assert plan.placement("mobilenet_ssd", IMAGENODE).path.startswith("/home/ops/imagenode/models/")
    assert plan.services == ("sentinel", "imagenode")


def test_datasinks_other_than_primary_get_the_versioned_facelist():
    primary = plan_host(host("data1", "datasinks"), registry)
    other = plan_host(host("data2", "datasinks"), registry)
    assert primary.facelist is None and primary.placements == ()
    assert other.facelist.csv == "/home/ops/sentinelcam/face_recognition/facelist_2026-02-02.csv"
    assert other.facelist.hdf5 == "/home/ops/sentinelcam/face_recognition/facedata_2026-02-02.hdf5"
    assert other.facelist.current_link == "/home/ops/sentinelcam/face_recognition/facelist_current.csv"
    assert other.services == ("datapump",) and other.uses("face_recognition")


def test_pin_naming_unknown_model_blocks_the_plan():
    result = check_inventory(REGISTRY, [host("data1", "datasinks"), host("s", "sentinels", model_version_overrides={"yolo": "2025-01-01"})], "inv.py")
    assert result.plans == {}
    assert [str(p) for p in result.problems] == ["inv.py: host s: model_version_overrides.yolo: pins unknown model 'yolo' (not in the registry)"]
