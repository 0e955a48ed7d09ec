"""Which config files a host gets, from which template, for which service, with which values.

Pure: the values come from the host plan (resolved paths), so templates hold no logic beyond
printing them. deploys/models.py renders these through pyinfra's files.template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .plan import DATAPUMP, IMAGENODE, SENTINEL, HostPlan

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SENTINEL_TASKS = ("FaceRecon", "FaceDataUpdate", "FaceSweep", "GetFaces", "MobileNetSSD_allFrames", "VehicleSpeed", "DailyCleanup")
# Every template, in a fixed order: deploys iterate these so operations line up across hosts.
TEMPLATE_SLOTS = (
    ("sentinel/sentinel.yaml.j2",)
    + tuple(f"sentinel/tasks/{task}.yaml.j2" for task in SENTINEL_TASKS)
    + ("imagenode/imagenode.yaml.j2", "datapump/datapump.yaml.j2")
)


@dataclass(frozen=True)
class ConfigFile:
    template: str   # relative to templates/
    dest: str
    service: str
    values: Mapping

    @property
    def template_path(self) -> Path:
        return TEMPLATES / self.template


def _file(plan: HostPlan, model: str, name: str, role: str) -> str:
    return plan.placement(model, role).file(name)


def sentinel_values(plan: HostPlan, data: Mapping) -> dict:
    s = plan.settings
    coral = s["sentinel_accelerator_type"] == "coral"
    f = lambda model, name: _file(plan, model, name, SENTINEL)  # noqa: E731
    if coral:
        objects = {"target": "edgetpu",
                   "edgetpu_model": f("mobilenet_ssd_edgetpu", "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite"),
                   "model_labels": f("mobilenet_ssd_edgetpu", "coco_labels.txt")}
    else:
        objects = {"target": "cpu",
                   "prototxt": f("mobilenet_ssd", "MobileNetSSD_deploy.prototxt"),
                   "caffemodel": f("mobilenet_ssd", "MobileNetSSD_deploy.caffemodel")}
    if s["sentinel_face_detector"] == "blazeface":
        entry = plan.placement("face_detection_blazeface", SENTINEL)
        variant = s["sentinel_blazeface_variant"]
        faces = {"detector": "blazeface", "variant": variant,
                 "model": entry.file(s["sentinel_blazeface_file"])}
    elif coral:
        faces = {"detector": "ssd_mobilenet", "target": "edgetpu",
                 "model": f("face_detection_edgetpu", "ssd_mobilenet_v2_face_quant_postprocess_edgetpu.tflite")}
    else:
        faces = {"detector": "ssd_mobilenet", "target": "cpu",
                 "prototxt": f("face_detection", "deploy.prototxt"),
                 "model": f("face_detection", "res10_300x300_ssd_iter_140000.caffemodel")}
    fr = plan.placement("face_recognition", SENTINEL)
    return {
        "accelerator": s["sentinel_accelerator_type"],
        "tasks_path": data["sentinel_tasks_path"],
        "objects": objects,
        "faces": faces,
        "eye_cascade": f("haarcascades", "haarcascade_eye.xml"),
        "embedding_model": f("openface_torch", "openface_nn4.small2.v1.t7"),
        "recognizer": fr.file("facemodel.pickle"),
        "baselines": fr.file("baselines.hdf5"),
        "facelist": fr.file("facelist.csv"),
        "facedata": fr.file("facedata.hdf5"),
        "versions": {p.model: p.version for p in plan.placements if p.role == SENTINEL},
    }


def imagenode_values(plan: HostPlan, data: Mapping) -> dict:
    detectors = {}
    for p in plan.placements:
        if p.role != IMAGENODE:
            continue
        if p.model == "mobilenet_ssd":
            detectors[p.model] = {"model_path": p.path,
                                  "prototxt": p.file("MobileNetSSD_deploy.prototxt"),
                                  "caffemodel": p.file("MobileNetSSD_deploy.caffemodel")}
        elif p.model == "mobilenet_ssd_edgetpu":
            detectors[p.model] = {"edgetpu_model": p.file("ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite"),
                                  "model_labels": p.file("coco_labels.txt")}
        elif p.model == "mobilenet_ssd_depthai":
            detectors[p.model] = {"model": p.file("mobilenet-ssd_openvino_2021.4_6shave.blob")}
        else:
            detectors[p.model] = {"model_path": p.path}
    return {"node": plan.host, "accelerator": plan.settings["imagenode_accelerator_type"], "detectors": detectors,
            "versions": {p.model: p.version for p in plan.placements if p.role == IMAGENODE}}


def config_files(plan: HostPlan, data: Mapping) -> list[ConfigFile]:
    """Every config the host's services read that carries model paths (or sits beside them)."""
    files: list[ConfigFile] = []
    if SENTINEL in plan.services:
        values = sentinel_values(plan, data)
        files.append(ConfigFile("sentinel/sentinel.yaml.j2", data["sentinel_config_path"], SENTINEL, values))
        for task in SENTINEL_TASKS:
            files.append(ConfigFile(f"sentinel/tasks/{task}.yaml.j2", f"{data['sentinel_tasks_path']}/{task}.yaml", SENTINEL, values))
    if IMAGENODE in plan.services:
        files.append(ConfigFile("imagenode/imagenode.yaml.j2", data["imagenode_config_path"], IMAGENODE, imagenode_values(plan, data)))
    if DATAPUMP in plan.services:
        fl = plan.facelist
        files.append(ConfigFile("datapump/datapump.yaml.j2", data["datapump_config_path"], DATAPUMP,
                                {"faces_data_file": fl.csv, "faces_data_hdf5": fl.hdf5, "version": fl.version,
                                 "data_path": data["sentinelcam_data_path"]}))
    return files


def render(config: ConfigFile) -> str:
    """Render like pyinfra's files.template (StrictUndefined, trailing newline kept)."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             loader=jinja2.FileSystemLoader(str(TEMPLATES)))
    return env.get_template(config.template).render(**config.values)
