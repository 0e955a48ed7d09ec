"""The config files a deploy writes, against ../shared/reference/sentinelcam-configs.md.

The expected documents below are written from the specification's tables (§3.3-3.7, §3.11, §3.12,
§7), not from the templates: keys, nesting, types, constants, conditionals and the model paths
``M/<model>/<V>/<file>`` with the shipped registry's versions.
"""

from __future__ import annotations

import pytest
import yaml

from sentinelcam_models.core.configs import (
    datapump_patch,
    imagenode_patch,
    render,
    sentinel_task_files,
)
from sentinelcam_models.core.validation import CheckedInventory, check_inventory
from sentinelcam_models.paths import template_text
from tests.support.units import REGISTRY, host, registry

M = "/home/ops/sentinel/models"
N = "/home/ops/imagenode/models"
# Versions of the shipped registry (inventories/group_data/model_registry.yaml).
V = {
    "mobilenet_ssd": "2020-12-06",
    "mobilenet_ssd_edgetpu": "2025-12-19",
    "mobilenet_ssd_depthai": "2026-06-07",
    "face_detection": "2020-03-25",
    "face_detection_edgetpu": "2025-12-19",
    "face_detection_blazeface": "2026-01-02",
    "face_recognition": "2026-02-02",
    "haarcascades": "2020-03-25",
    "openface_torch": "2020-03-25",
}

ALIGNER = {
    "haarcascade_path": f"{M}/haarcascades/{V['haarcascades']}/haarcascade_eye.xml",
    "desiredLeftEye": [0.29, 0.27],
    "desiredFaceWidth": 96,
    "desiredFaceHeight": 96,
}
EMBEDDINGS = {"model_path": f"{M}/openface_torch/{V['openface_torch']}/openface_nn4.small2.v1.t7"}
FR = f"{M}/face_recognition/{V['face_recognition']}"
FACE_DETECTION_CPU_PATHS = {
    "prototxt_path": f"{M}/face_detection/{V['face_detection']}/deploy.prototxt",
    "model_path": f"{M}/face_detection/{V['face_detection']}/res10_300x300_ssd_iter_140000.caffemodel",
}


# §3.4: all six mobilenetssd keys whatever the accelerator; target myriad for ncs2, else cpu.
def mobilenet(target: str) -> dict:
    return {
        "trk_type": "obj",
        "camwatcher_update": True,
        "mobilenetssd": {
            "confidence": 0.5,
            "prototxt_path": f"{M}/mobilenet_ssd/{V['mobilenet_ssd']}/MobileNetSSD_deploy.prototxt",
            "model_path": f"{M}/mobilenet_ssd/{V['mobilenet_ssd']}/MobileNetSSD_deploy.caffemodel",
            "target": target,
            "edgetpu_model": f"{M}/mobilenet_ssd_edgetpu/{V['mobilenet_ssd_edgetpu']}/"
            "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite",
            "model_labels": f"{M}/mobilenet_ssd_edgetpu/{V['mobilenet_ssd_edgetpu']}/coco_labels.txt",
        },
    }


# §3.3 GetFaces branches: (accelerator, detector) -> face_detection.
GET_FACES = {
    ("coral", "blazeface"): {
        "confidence": 0.5,
        "edgetpu_model": f"{M}/face_detection_blazeface/"
        f"{V['face_detection_blazeface']}/face_detection_short_range_edgetpu.tflite",
        **FACE_DETECTION_CPU_PATHS,
        "target": "cpu",
    },
    ("coral", "ssd_mobilenet"): {
        "confidence": 0.5,
        "edgetpu_model": f"{M}/face_detection_edgetpu/"
        f"{V['face_detection_edgetpu']}/ssd_mobilenet_v2_face_quant_postprocess_edgetpu.tflite",
        **FACE_DETECTION_CPU_PATHS,
        "target": "cpu",
    },
    ("ncs2", "ssd_mobilenet"): {"confidence": 0.5, **FACE_DETECTION_CPU_PATHS, "target": "myriad"},
    ("ncs2", "blazeface"): {"confidence": 0.5, **FACE_DETECTION_CPU_PATHS, "target": "myriad"},
    ("cpu", "ssd_mobilenet"): {"confidence": 0.5, **FACE_DETECTION_CPU_PATHS, "target": "cpu"},
    ("cpu", "blazeface"): {"confidence": 0.5, **FACE_DETECTION_CPU_PATHS, "target": "cpu"},
    ("none", "ssd_mobilenet"): {"confidence": 0.5, **FACE_DETECTION_CPU_PATHS, "target": "cpu"},
}
KEY_ORDER = {  # §3.3: keys rendered, in order
    ("coral", "blazeface"): [
        "confidence",
        "edgetpu_model",
        "prototxt_path",
        "model_path",
        "target",
    ],
    ("coral", "ssd_mobilenet"): [
        "confidence",
        "edgetpu_model",
        "prototxt_path",
        "model_path",
        "target",
    ],
}


def checked_for(**data) -> CheckedInventory:
    result = check_inventory(
        registry(),
        [],
        [host("sentinel9", "sentinels", **data), host("data1", "datasinks")],
        "inv.py",
    )
    assert isinstance(result, CheckedInventory), result
    return result


def rendered(checked: CheckedInventory, name: str = "sentinel9") -> dict[str, str]:
    files = sentinel_task_files(checked.settings[name], checked.plans[name], checked.registry)
    return {f.name: render(template_text(f.template), f.values) for f in files}


@pytest.mark.parametrize("accelerator, detector", sorted(GET_FACES))
def test_sentinel_task_files_follow_the_spec(accelerator, detector):
    data = {"sentinel_accelerator_type": accelerator, "sentinel_face_detection_model": detector}
    if detector == "blazeface":
        data["sentinel_blazeface_variant"] = "short"
    texts = rendered(checked_for(**data))
    assert sorted(texts) == sorted(
        [
            "GetFaces.yaml",
            "MobileNetSSD_allFrames.yaml",
            "FaceRecon.yaml",
            "FaceSweep.yaml",
            "FaceDataUpdate.yaml",
        ]
    )
    for text in texts.values():  # §3.2: every task file starts with %YAML 1.0 then ---
        assert text.startswith("%YAML 1.0\n---\n")
    get_faces = yaml.safe_load(texts["GetFaces.yaml"])
    assert get_faces == {
        "trk_type": "fd1",
        "all_frames": False,
        "camwatcher_update": True,
        "face_detection": GET_FACES[(accelerator, detector)],
    }
    if (accelerator, detector) in KEY_ORDER:
        assert list(get_faces["face_detection"]) == KEY_ORDER[(accelerator, detector)]
    assert yaml.safe_load(texts["MobileNetSSD_allFrames.yaml"]) == mobilenet(
        "myriad" if accelerator == "ncs2" else "cpu"
    )
    assert yaml.safe_load(texts["FaceRecon.yaml"]) == {
        "trk_type": "fr1",
        "camwatcher_update": True,
        "face_aligner": ALIGNER,
        "face_embeddings": EMBEDDINGS,
        "facemodel": f"{FR}/facemodel.pickle",
        "baselines": f"{FR}/baselines.hdf5",
    }
    assert yaml.safe_load(texts["FaceSweep.yaml"]) == {
        "ref_type": "fr1",
        "facefile": f"{FR}/facelist.csv",
        "face_aligner": ALIGNER,
    }
    assert yaml.safe_load(texts["FaceDataUpdate.yaml"]) == {
        "face_aligner": ALIGNER,
        "face_embeddings": EMBEDDINGS,
        "facefile": f"{FR}/facelist.csv",
        "facedata": f"{FR}/facedata.hdf5",
    }


def test_blazeface_selection_by_path_substring():
    """§6.1: the sentinel picks the BlazeFace decoder iff edgetpu_model contains 'blazeface'."""
    blaze = yaml.safe_load(
        rendered(
            checked_for(
                sentinel_accelerator_type="coral",
                sentinel_face_detection_model="blazeface",
                sentinel_blazeface_variant="short",
            )
        )["GetFaces.yaml"]
    )
    ssd = yaml.safe_load(rendered(checked_for(sentinel_accelerator_type="coral"))["GetFaces.yaml"])
    assert "blazeface" in blaze["face_detection"]["edgetpu_model"].lower()
    assert "blazeface" not in ssd["face_detection"]["edgetpu_model"].lower()


def test_blazeface_variant_the_registry_does_not_list_is_refused():
    result = check_inventory(
        registry(),
        [],
        [
            host(
                "sentinel9",
                "sentinels",
                sentinel_accelerator_type="coral",
                sentinel_face_detection_model="blazeface",
                sentinel_blazeface_variant="full",
            ),
            host("data1", "datasinks"),
        ],
        "inv.py",
    )
    assert not isinstance(result, CheckedInventory)
    [line] = [str(p) for p in result.problems]
    assert "host sentinel9" in line and "sentinel_blazeface_variant" in line and "'full'" in line


def test_paths_follow_the_service_user_and_pins():
    checked = checked_for(
        sentinelcam_user="pi", model_version_overrides={"haarcascades": "2019-01-01"}
    )
    recon = yaml.safe_load(rendered(checked)["FaceRecon.yaml"])
    assert (
        recon["face_aligner"]["haarcascade_path"]
        == "/home/pi/sentinel/models/haarcascades/2019-01-01/haarcascade_eye.xml"
    )
    assert (
        recon["facemodel"]
        == f"/home/pi/sentinel/models/face_recognition/{V['face_recognition']}/facemodel.pickle"
    )


def test_confidence_comes_from_the_matching_key():
    conf = {"cpu": 0.41, "ncs2": 0.42, "ssd_mobilenet": 0.43, "blazeface": 0.44}
    for accelerator, detector, key in (
        ("cpu", "ssd_mobilenet", "cpu"),
        ("ncs2", "ssd_mobilenet", "ncs2"),
        ("coral", "ssd_mobilenet", "ssd_mobilenet"),
        ("coral", "blazeface", "blazeface"),
    ):
        text = rendered(
            checked_for(
                sentinel_accelerator_type=accelerator,
                sentinel_face_detection_model=detector,
                sentinel_blazeface_variant="short",
                face_detection_confidence=conf,
            )
        )["GetFaces.yaml"]
        assert yaml.safe_load(text)["face_detection"]["confidence"] == conf[key]


# --- imagenode.yaml: model keys patched in place, per camera (§3.11) --------------------------------

IMAGENODE = """\
%YAML 1.0
---
# imagenode.yaml for {name}, written by the imagenode role
node:
  name: outpost
  heartbeat: 10
hub_address:
  H1: tcp://data1:5555
cameras:
  P1:
    viewname: PiCamera
    resolution: (640, 480)   # a tuple string: imagenode literal_evals it
    framerate: 32
    vflip: False
    detectors:
      outpost:
        publish_cam: 5567
        spyglass: (640, 480)
        detectobjects: mobilenetssd
        accelerator: {accelerator}
        mobilenetssd:
          confidence: 0.5
{model_keys}
        sentinel_tasks:
          person: GetFaces2
          default: MobileNetSSD_allFrames
  O1:
    viewname: Front
    resolution: (640, 360)
    detectors:
      outpost:
        detectobjects: none
        accelerator: none
        depthai:
          nn_archive: {N}/mobilenet_ssd_depthai/2022-04-02/mobilenet-ssd-300x300.rvc2.tar.xz
          crop_publish: 5568
          lookback_frames: 90
        sentinel_tasks:
          person: GetFaces2
"""
CPU_KEYS = (
    f"          prototxt_path: {N}/mobilenet_ssd/2019-01-01/MobileNetSSD_deploy.prototxt\n"
    f"          model_path: {N}/mobilenet_ssd/2019-01-01/MobileNetSSD_deploy.caffemodel\n"
    "          target: cpu"
)
CORAL_KEYS = (
    f'          edgetpu_model: "{N}/mobilenet_ssd_edgetpu/2019-01-01/'
    'ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite"\n'
    f"          model_labels: '{N}/mobilenet_ssd_edgetpu/2019-01-01/coco_labels.txt'"
)


def outpost(outpost_models: list[str]) -> CheckedInventory:
    result = check_inventory(
        registry(),
        [],
        [host("lab1", "outposts", outpost_models=outpost_models), host("data1", "datasinks")],
        "inv.py",
    )
    assert isinstance(result, CheckedInventory), result
    return result


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), "a patch never adds or removes lines when every key exists"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_imagenode_cpu_camera_gets_caffe_paths_and_nothing_else_changes():
    checked = outpost(["mobilenet_ssd", "mobilenet_ssd_depthai"])
    before = IMAGENODE.format(name="lab1", accelerator="none", model_keys=CPU_KEYS, N=N)
    result = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before)
    assert result.problems == ()
    after = result.patch.apply(before)
    lines = changed_lines(before, after)
    assert [b.strip() for _, b in lines] == [
        f"prototxt_path: {N}/mobilenet_ssd/{V['mobilenet_ssd']}/MobileNetSSD_deploy.prototxt",
        f"model_path: {N}/mobilenet_ssd/{V['mobilenet_ssd']}/MobileNetSSD_deploy.caffemodel",
        f"nn_archive: {N}/mobilenet_ssd_depthai/{V['mobilenet_ssd_depthai']}/mobilenet-ssd-300x300.rvc2.tar.xz",
    ]
    old_doc, new_doc = yaml.safe_load(before), yaml.safe_load(after)
    for doc in (old_doc, new_doc):  # outside the model keys the parsed documents are equal
        doc["cameras"]["P1"]["detectors"]["outpost"]["mobilenetssd"].pop("prototxt_path")
        doc["cameras"]["P1"]["detectors"]["outpost"]["mobilenetssd"].pop("model_path")
        doc["cameras"]["O1"]["detectors"]["outpost"]["depthai"].pop("nn_archive")
    assert old_doc == new_doc
    assert "resolution: (640, 480)   # a tuple string" in after and after.startswith(
        "%YAML 1.0\n---\n# imagenode"
    )


def test_imagenode_coral_camera_keeps_quoting_style():
    checked = outpost(["mobilenet_ssd_edgetpu", "mobilenet_ssd_depthai"])
    before = IMAGENODE.format(name="alpha5", accelerator="coral", model_keys=CORAL_KEYS, N=N)
    after = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before).patch.apply(
        before
    )
    assert [b.strip() for _, b in changed_lines(before, after)][:2] == [
        f'edgetpu_model: "{N}/mobilenet_ssd_edgetpu/{V["mobilenet_ssd_edgetpu"]}/'
        'ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite"',
        f"model_labels: '{N}/mobilenet_ssd_edgetpu/{V['mobilenet_ssd_edgetpu']}/coco_labels.txt'",
    ]


def test_imagenode_camera_needing_an_unlisted_model_is_refused_with_one_line():
    checked = outpost(["mobilenet_ssd"])  # no depthai model for camera O1
    before = IMAGENODE.format(name="lab1", accelerator="none", model_keys=CPU_KEYS, N=N)
    result = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before)
    assert result.patch is None
    [line] = result.problems
    assert "camera O1 needs mobilenet_ssd_depthai" in line and "outpost_models" in line


def test_imagenode_missing_file_is_one_line():
    checked = outpost(["mobilenet_ssd"])
    [line] = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], None).problems
    assert "/home/ops/imagenode.yaml does not exist yet" in line


def test_imagenode_missing_key_is_inserted_in_its_block():
    checked = outpost(["mobilenet_ssd", "mobilenet_ssd_depthai"])
    keys = CPU_KEYS.replace(
        f"          model_path: {N}/mobilenet_ssd/2019-01-01/MobileNetSSD_deploy.caffemodel\n", ""
    )
    before = IMAGENODE.format(name="lab1", accelerator="none", model_keys=keys, N=N)
    after = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before).patch.apply(
        before
    )
    block = yaml.safe_load(after)["cameras"]["P1"]["detectors"]["outpost"]["mobilenetssd"]
    assert (
        block["model_path"]
        == f"{N}/mobilenet_ssd/{V['mobilenet_ssd']}/MobileNetSSD_deploy.caffemodel"
    )
    assert block["target"] == "cpu"


def test_mobilenet_confidence_is_written_to_each_mobilenetssd_camera():
    result = check_inventory(
        registry(),
        [],
        [
            host(
                "lab1",
                "outposts",
                outpost_models=["mobilenet_ssd", "mobilenet_ssd_depthai"],
                mobilenet_confidence=0.65,
            ),
            host("data1", "datasinks"),
        ],
        "inv.py",
    )
    assert isinstance(result, CheckedInventory), result
    before = IMAGENODE.format(name="lab1", accelerator="none", model_keys=CPU_KEYS, N=N)
    patch = imagenode_patch(result.settings["lab1"], result.plans["lab1"], before).patch
    after = yaml.safe_load(patch.apply(before))
    assert after["cameras"]["P1"]["detectors"]["outpost"]["mobilenetssd"]["confidence"] == 0.65
    # the default (0.5) equals what the role rendered: that line is left as written
    checked = outpost(["mobilenet_ssd", "mobilenet_ssd_depthai"])
    same = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before).patch
    assert "          confidence: 0.5\n" in same.apply(before)


@pytest.mark.parametrize("accelerator, target", [("none", "cpu"), ("ncs2", "myriad")])
def test_a_cpu_block_without_paths_gets_them_with_target(accelerator, target):
    checked = outpost(["mobilenet_ssd", "mobilenet_ssd_depthai"])
    before = IMAGENODE.format(name="lab1", accelerator=accelerator, model_keys="", N=N).replace(
        "          confidence: 0.5\n\n", "          confidence: 0.5\n"
    )
    after = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before).patch.apply(
        before
    )
    block = yaml.safe_load(after)["cameras"]["P1"]["detectors"]["outpost"]["mobilenetssd"]
    assert block == {
        "confidence": 0.5,
        "prototxt_path": f"{N}/mobilenet_ssd/{V['mobilenet_ssd']}/MobileNetSSD_deploy.prototxt",
        "model_path": f"{N}/mobilenet_ssd/{V['mobilenet_ssd']}/MobileNetSSD_deploy.caffemodel",
        "target": target,
    }


# The DepthAI v2 shape (§3.11, snapshot @97fa613): pipeline, model (a .blob), images, jpegs,
# neural_nets; no nn_archive, no crop_publish. Written out from the spec's description.
DEPTHAI_V2 = """\
        depthai:
          pipeline: ImageNode
          model: {N}/mobilenet_ssd_depthai/2022-04-02/mobilenet-ssd_openvino_2021.4_6shave.blob
          images: {{camera: RGB, size: (640, 360)}}
          jpegs: {{quality: 90}}
          neural_nets:
            Q1: nn
"""


def v2_imagenode() -> str:
    before = IMAGENODE.format(name="lab1", accelerator="none", model_keys=CPU_KEYS, N=N)
    start = before.index("        depthai:\n")
    end = before.index("        sentinel_tasks:\n", start)
    return before[:start] + DEPTHAI_V2.format(N=N) + before[end:]


def test_an_oak_camera_in_the_depthai_v2_shape_is_refused_never_half_patched():
    checked = outpost(["mobilenet_ssd", "mobilenet_ssd_depthai"])
    before = v2_imagenode()
    assert "nn_archive" not in before and "neural_nets" in before
    result = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before)
    assert result.patch is None  # not even camera P1's keys: the file is left as it is
    [line] = result.problems
    assert "camera O1" in line and "/home/ops/imagenode.yaml" in line
    assert "nn_archive" in line and "crop_publish" in line


def test_a_v3_depthai_block_without_crop_publish_is_refused():
    checked = outpost(["mobilenet_ssd", "mobilenet_ssd_depthai"])
    before = IMAGENODE.format(name="lab1", accelerator="none", model_keys=CPU_KEYS, N=N)
    before = before.replace("          crop_publish: 5568\n", "")
    [line] = imagenode_patch(checked.settings["lab1"], checked.plans["lab1"], before).problems
    assert "camera O1" in line and "crop_publish" in line


# --- datapump.yaml: facefile only (§3.12) ------------------------------------------------------------

DATAPUMP = """\
# datapump.yaml, written by the datapump role
control_port: 5556
camwatcher: tcp://127.0.0.1:5566
imagefolder: /home/ops/sentinelcam/images
datafolder: /home/ops/sentinelcam/camwatcher
facefile: /home/ops/sentinelcam/faces/facelist_gamma4.csv
logconfig:
  version: 1
"""


def datasink(**data) -> CheckedInventory:
    result = check_inventory(
        registry(), [], [host("data1", "datasinks"), host("data2", "datasinks", **data)], "inv.py"
    )
    assert isinstance(result, CheckedInventory), result
    return result


# The datapump role's default (§1.7): the registry's face list of an earlier version.
DATAPUMP_ROLE_DEFAULT = DATAPUMP.replace(
    "/home/ops/sentinelcam/faces/facelist_gamma4.csv",
    "/home/ops/sentinelcam/face_recognition/facelist_2025-01-01.csv",
)


def test_datapump_facefile_defaults_to_the_versioned_face_list():
    checked = datasink()
    before = DATAPUMP_ROLE_DEFAULT
    after = datapump_patch(checked.settings["data2"], checked.plans["data2"], before).patch.apply(
        before
    )
    [(_, line)] = changed_lines(before, after)
    assert (
        line
        == f"facefile: /home/ops/sentinelcam/face_recognition/facelist_{V['face_recognition']}.csv\n"
    )


def test_datapump_facefile_follows_faces_data_file():
    checked = datasink(faces_data_file="/home/ops/sentinelcam/faces/facelist_gamma4.csv")
    patch = datapump_patch(checked.settings["data2"], checked.plans["data2"], DATAPUMP).patch
    assert patch.apply(DATAPUMP) == DATAPUMP


def test_primary_datasink_gets_no_face_list():
    checked = datasink()
    assert datapump_patch(checked.settings["data1"], checked.plans["data1"], DATAPUMP).patch is None


def test_registry_fixture_is_the_shipped_one():
    assert registry().path == str(REGISTRY)


# The original's group_vars/datasinks.yaml overrides faces_data_file to faces/facelist_gamma4.csv
# (sentinelcam-configs.md 3.12, the DATAPUMP text above): patching facefile without being asked
# would change the list that locks events against deletion.
GAMMA4 = "/home/ops/sentinelcam/faces/facelist_gamma4.csv"


def test_a_facefile_that_is_no_registry_list_is_refused_with_what_to_set():
    assert f"facefile: {GAMMA4}" in DATAPUMP
    checked = datasink()
    result = datapump_patch(checked.settings["data2"], checked.plans["data2"], DATAPUMP)
    assert result.patch is None
    [line] = result.problems
    assert "/home/ops/datapump.yaml" in line and GAMMA4 in line
    assert "faces_data_file" in line and "data2" in line
    assert f"facelist_{V['face_recognition']}.csv" in line


def test_a_facefile_naming_the_registry_s_current_link_is_no_override():
    checked = datasink()
    text = DATAPUMP.replace(GAMMA4, "/home/ops/sentinelcam/face_recognition/facelist_current.csv")
    result = datapump_patch(checked.settings["data2"], checked.plans["data2"], text)
    assert result.problems == () and result.patch is not None


def test_a_facefile_override_is_patched_once_faces_data_file_says_so():
    value = f"/home/ops/sentinelcam/face_recognition/facelist_{V['face_recognition']}.csv"
    checked = datasink(faces_data_file=value)
    result = datapump_patch(checked.settings["data2"], checked.plans["data2"], DATAPUMP)
    assert result.problems == ()
    assert yaml.safe_load(result.patch.apply(DATAPUMP))["facefile"] == value
