"""The config files a deploy writes, as values: the five sentinel task files it owns whole, and the
model keys it patches in place inside files other roles own.

Everything follows ../shared/reference/sentinelcam-configs.md: ``GetFaces.yaml``,
``MobileNetSSD_allFrames.yaml``, ``FaceRecon.yaml``, ``FaceSweep.yaml``, ``FaceDataUpdate.yaml`` are
rendered whole (§3.3-3.7); ``imagenode.yaml`` gets only its per-camera model paths (§3.11), and
``datapump.yaml`` only ``facefile`` (§3.12). ``sentinel.yaml``, ``VehicleSpeed.yaml`` and
``DailyCleanup.yaml`` hold no model path and are never touched.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import catalog
from .names import is_version
from .plan import HostPlan, Placement
from .registry import Registry
from .sentinelconf import accelerator_refusal
from .services import DATAPUMP, IMAGENODE, SENTINEL
from .settings import HostSettings
from .yamlpatch import KeyPath, set_values
from .yamlstrict import load

if TYPE_CHECKING:
    import jinja2

# The task files, in the fixed order deploys write them (operations line up across hosts).
TASK_FILES = (
    catalog.GET_FACES,
    catalog.MOBILENET_ALL_FRAMES,
    catalog.FACE_RECON,
    catalog.FACE_SWEEP,
    catalog.FACE_DATA_UPDATE,
)


@dataclass(frozen=True)
class TaskFile:
    """A sentinel task file the deploy owns whole."""

    name: str  # GetFaces.yaml
    dest: str
    values: Mapping[str, Any]
    models: tuple[str, ...]  # model/version keys whose files it names

    @property
    def template(self) -> str:
        return f"sentinel/tasks/{self.name}.j2"


@dataclass(frozen=True)
class Patch:
    """Model keys to set inside a file another role owns (imagenode.yaml, datapump.yaml)."""

    dest: str
    service: str
    edits: Mapping[KeyPath, Any] = field(default_factory=lambda: MappingProxyType({}))
    models: tuple[str, ...] = ()  # model/version keys whose files the edits name

    def apply(self, text: str) -> str:
        return set_values(text, self.edits)


@functools.cache
def _environment() -> jinja2.Environment:
    """Made at the first render: jinja2 takes 16 ms to import, which --help and the completion of
    a model or a version need not pay (a command that loads the inventory imports it with
    pyinfra)."""
    import jinja2  # noqa: PLC0415

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )


@functools.lru_cache(maxsize=64)
def _compiled(template_text: str) -> jinja2.Template:
    """Each template is compiled once per process, not once per host (a deploy renders five per
    sentinel)."""
    return _environment().from_string(template_text)


def render(template_text: str, values: Mapping[str, Any]) -> str:
    """Render like pyinfra's files.template: undefined names are errors, the final newline is kept."""
    return _compiled(template_text).render(**values)


def _file(plan: HostPlan, model: str, name: str) -> tuple[str, str]:
    placement = plan.placement(model, SENTINEL)
    if placement is None:
        raise KeyError(f"{plan.host}: no {model} placement")
    return placement.file(name), placement.key


def sentinel_task_files(
    settings: HostSettings, plan: HostPlan, registry: Registry
) -> tuple[TaskFile, ...]:
    """The five task files of a sentinel, with the values the spec's tables give them."""
    if not settings.roles.sentinel:
        return ()
    tasks = settings.path("sentinel_tasks_path")
    accelerator, detector = settings.sentinel_accelerator, settings.face_detection_model
    confidence = settings.face_detection_confidence
    used: dict[str, list[str]] = {}

    def file(task: str, model: str, name: str) -> str:
        path, key = _file(plan, model, name)
        used.setdefault(task, []).append(key)
        return path

    def f(task: str, model: str, key: str) -> str:
        """The path of the catalog file of ``model`` that ``task``'s ``key`` names."""
        return file(task, model, catalog.file_feeding(model, task, key))

    # GetFaces.yaml (§3.3): the branch follows sentinel_accelerator_type; coral keeps the CPU fallback.
    get_faces: dict[str, Any] = {"edgetpu_model": None, "target": "cpu"}
    if accelerator == "coral" and detector == "blazeface":
        entry = registry.models[catalog.BLAZEFACE]
        variant_file = entry.variants[catalog.BLAZEFACE_VARIANTS[settings.blazeface_variant]]
        get_faces.update(
            confidence=confidence["blazeface"],
            edgetpu_model=file(catalog.GET_FACES, catalog.BLAZEFACE, variant_file),
        )
    elif accelerator == "coral":
        get_faces.update(
            confidence=confidence["ssd_mobilenet"],
            edgetpu_model=f(
                catalog.GET_FACES, "face_detection_edgetpu", "face_detection.edgetpu_model"
            ),
        )
    elif accelerator == "ncs2":
        get_faces.update(confidence=confidence["ncs2"], target="myriad")
    else:
        get_faces.update(confidence=confidence["cpu"])
    get_faces.update(
        prototxt_path=f(catalog.GET_FACES, "face_detection", "face_detection.prototxt_path"),
        model_path=f(catalog.GET_FACES, "face_detection", "face_detection.model_path"),
    )

    # MobileNetSSD_allFrames.yaml (§3.4): all six keys whatever the accelerator; only target varies.
    mobilenet = {
        "prototxt_path": f(
            catalog.MOBILENET_ALL_FRAMES, "mobilenet_ssd", "mobilenetssd.prototxt_path"
        ),
        "model_path": f(catalog.MOBILENET_ALL_FRAMES, "mobilenet_ssd", "mobilenetssd.model_path"),
        "target": "myriad" if accelerator == "ncs2" else "cpu",
        "edgetpu_model": f(
            catalog.MOBILENET_ALL_FRAMES, "mobilenet_ssd_edgetpu", "mobilenetssd.edgetpu_model"
        ),
        "model_labels": f(
            catalog.MOBILENET_ALL_FRAMES, "mobilenet_ssd_edgetpu", "mobilenetssd.model_labels"
        ),
    }

    def aligner(task: str) -> str:
        return f(task, "haarcascades", "face_aligner.haarcascade_path")

    def embeddings(task: str) -> str:
        return f(task, "openface_torch", "face_embeddings.model_path")

    # FaceRecon.yaml, FaceSweep.yaml, FaceDataUpdate.yaml (§3.5-3.7): no conditionals.
    values: dict[str, dict[str, Any]] = {
        catalog.GET_FACES: get_faces,
        catalog.MOBILENET_ALL_FRAMES: mobilenet,
        catalog.FACE_RECON: {
            "haarcascade_path": aligner(catalog.FACE_RECON),
            "embeddings_model": embeddings(catalog.FACE_RECON),
            "facemodel": f(catalog.FACE_RECON, catalog.FACE_MODEL, "facemodel"),
            "baselines": f(catalog.FACE_RECON, catalog.FACE_MODEL, "baselines"),
        },
        catalog.FACE_SWEEP: {
            "facefile": f(catalog.FACE_SWEEP, catalog.FACE_MODEL, "facefile"),
            "haarcascade_path": aligner(catalog.FACE_SWEEP),
        },
        catalog.FACE_DATA_UPDATE: {
            "haarcascade_path": aligner(catalog.FACE_DATA_UPDATE),
            "embeddings_model": embeddings(catalog.FACE_DATA_UPDATE),
            "facefile": f(catalog.FACE_DATA_UPDATE, catalog.FACE_MODEL, "facefile"),
            "facedata": f(catalog.FACE_DATA_UPDATE, catalog.FACE_MODEL, "facedata"),
        },
    }
    return tuple(
        TaskFile(
            name,
            f"{tasks}/{name}",
            MappingProxyType(values[name]),
            tuple(dict.fromkeys(used.get(name, ()))),
        )
        for name in TASK_FILES
    )


# --- files other roles own: patch the model keys only ----------------------------------------------


@dataclass(frozen=True)
class PatchResult:
    patch: Patch | None
    problems: tuple[str, ...] = ()


def _outpost_placement(plan: HostPlan, model: str) -> Placement | None:
    return plan.placement(model, IMAGENODE)


def _outpost_keys(model: str, *keys: KeyPath) -> tuple[str, Mapping[KeyPath, str]]:
    """A camera kind's model and {key under detectors.outpost: the catalog file it names}."""
    return model, MappingProxyType(
        {
            key: catalog.file_feeding(
                model, catalog.IMAGENODE, ".".join(("cameras.*.detectors.outpost", *key))
            )
            for key in keys
        }
    )


IMAGENODE_MODEL_KEYS = {
    # (which camera) -> model, {key under detectors.outpost: file}
    "coral": _outpost_keys(
        "mobilenet_ssd_edgetpu",
        ("mobilenetssd", "edgetpu_model"),
        ("mobilenetssd", "model_labels"),
    ),
    "cpu": _outpost_keys(
        "mobilenet_ssd", ("mobilenetssd", "prototxt_path"), ("mobilenetssd", "model_path")
    ),
    "oak": _outpost_keys("mobilenet_ssd_depthai", ("depthai", "nn_archive")),
}


def _mobilenet_settings(
    settings: HostSettings, base: KeyPath, outpost: Mapping, kind: str
) -> dict[KeyPath, Any]:
    """``mobilenetssd.confidence`` = ``mobilenet_confidence`` for every mobilenetssd camera, and
    ``mobilenetssd.target`` for a CPU camera that has none (imagenode reads it unconditionally:
    ``myriad`` when the camera's accelerator is ncs2, else ``cpu``; §3.11). A value equal to the
    one there (``0.50`` for 0.5) is left as written."""
    block = outpost["mobilenetssd"]
    edits: dict[KeyPath, Any] = {}
    current = block.get("confidence")
    if not (
        isinstance(current, int | float)
        and not isinstance(current, bool)
        and float(current) == settings.mobilenet_confidence
    ):
        edits[(*base, "mobilenetssd", "confidence")] = settings.mobilenet_confidence
    if kind == "cpu" and "target" not in block:
        target = "myriad" if outpost.get("accelerator", "none") == "ncs2" else "cpu"
        edits[(*base, "mobilenetssd", "target")] = target
    return edits


def imagenode_patch(settings: HostSettings, plan: HostPlan, text: str | None) -> PatchResult:
    """The model keys of ``imagenode.yaml``, per camera (§3.11): chosen by that camera's
    ``detectors.outpost.accelerator`` (not ``imagenode_accelerator_type``), plus ``depthai.nn_archive``
    for cameras with a ``depthai`` block, ``mobilenetssd.confidence`` from ``mobilenet_confidence``
    and a missing CPU ``mobilenetssd.target``. An OAK camera in the DepthAI v2 shape refuses the
    whole file (no camera is patched)."""
    if not settings.roles.outpost:
        return PatchResult(None)
    dest = settings.path("imagenode_config_path")
    if text is None:
        return PatchResult(
            None,
            (
                f"{dest} does not exist yet (the imagenode role writes it): "
                "its models are installed, its config is not patched",
            ),
        )
    doc, problems = load(dest, text)
    if doc is None or problems:
        return PatchResult(None, tuple(str(p) for p in problems))
    cameras = doc.data.get("cameras") if isinstance(doc.data, dict) else None
    if not isinstance(cameras, dict):
        return PatchResult(None, (f"{dest}: no cameras mapping",))
    edits: dict[KeyPath, Any] = {}
    models: list[str] = []
    found: list[str] = []
    for camera, config in cameras.items():
        outpost = (
            ((config or {}).get("detectors") or {}).get("outpost")
            if isinstance(config, dict)
            else None
        )
        if not isinstance(outpost, dict):
            continue
        base: KeyPath = ("cameras", str(camera), "detectors", "outpost")
        kinds = []
        if outpost.get("detectobjects", "none") == "mobilenetssd":
            if not isinstance(outpost.get("mobilenetssd"), dict):
                found.append(
                    f"{dest}: cameras.{camera}.detectors.outpost: detectobjects is mobilenetssd "
                    "but there is no mobilenetssd block"
                )
                continue
            kinds.append("coral" if outpost.get("accelerator", "none") == "coral" else "cpu")
        if isinstance(outpost.get("depthai"), dict):
            v2 = depthai_v2_refusal(dest, str(camera), outpost["depthai"])
            if v2:
                found.append(v2)
                continue
            kinds.append("oak")
        for kind in kinds:
            model, keys = IMAGENODE_MODEL_KEYS[kind]
            placement = _outpost_placement(plan, model)
            if placement is None:
                found.append(
                    f"{dest}: camera {camera} needs {model} ({kind}), which outpost_models does not "
                    f"list; add it to outpost_models"
                )
                continue
            models.append(placement.key)
            for key, name in keys.items():
                edits[base + key] = placement.file(name)
            if kind in ("coral", "cpu"):
                edits.update(_mobilenet_settings(settings, base, outpost, kind))
    if found:
        return PatchResult(None, tuple(found))
    return PatchResult(
        Patch(dest, IMAGENODE, MappingProxyType(edits), tuple(dict.fromkeys(models)))
    )


# The DepthAI v2 shape of the imagenode role before v3 (§3.11: snapshot @97fa613, imagenode @838e0a9).
DEPTHAI_V2_KEYS = ("model", "pipeline", "neural_nets", "images", "jpegs")
DEPTHAI_V3_REQUIRED = ("nn_archive", "crop_publish")


def depthai_v2_refusal(dest: str, camera: str, depthai: Mapping) -> str | None:
    """One line for an OAK camera whose ``depthai`` block is not the v3 shape: the v3 code reads
    ``nn_archive`` and requires ``crop_publish``, so adding ``nn_archive`` next to the v2 keys would
    leave the node running the old blob while drift called the new version deployed."""
    old = [key for key in DEPTHAI_V2_KEYS if key in depthai]
    missing = [key for key in DEPTHAI_V3_REQUIRED if key not in depthai]
    if not old and not missing:
        return None
    shape = f"has {', '.join(old)}" if old else "is incomplete"
    return (
        f"{dest}: camera {camera}: its depthai block {shape} (the DepthAI v2 shape); it needs the "
        f"v3 imagenode role's depthai.nn_archive and depthai.crop_publish "
        f"(missing: {', '.join(missing) or 'none'}): re-render it with the v3 role, then deploy again"
    )


def config_refusals(
    settings: HostSettings, plan: HostPlan, configs: Mapping[str, str | None]
) -> dict[str, str]:
    """role -> the one line refusing its config on this host (sentinel: sentinel.yaml's engine
    accelerator; imagenode: an OAK camera in the DepthAI v2 shape; datapump: a facefile that is no
    registry list), from the configs' text as the node reported it. Drift shows these lines."""
    found: dict[str, str] = {}
    if settings.roles.sentinel:
        path = settings.path("sentinel_config_path")
        line = accelerator_refusal(path, configs.get(path), settings.sentinel_accelerator)
        if line:
            found[SENTINEL] = line
    if settings.roles.outpost:
        path = settings.path("imagenode_config_path")
        doc, problems = load(path, configs.get(path) or "")
        cameras = doc.data.get("cameras") if doc and isinstance(doc.data, dict) else None
        for camera, config in (cameras or {}).items() if isinstance(cameras, dict) else ():
            outpost = (
                ((config or {}).get("detectors") or {}).get("outpost")
                if isinstance(config, dict)
                else None
            )
            depthai = outpost.get("depthai") if isinstance(outpost, dict) else None
            line = (
                depthai_v2_refusal(path, str(camera), depthai)
                if isinstance(depthai, dict)
                else None
            )
            if line:
                found[IMAGENODE] = line
                break
    if plan.facelist is not None:
        path = settings.path("datapump_config_path")
        doc, problems = load(path, configs.get(path) or "")
        if doc is not None and not problems and isinstance(doc.data, dict):
            line = facefile_refusal(settings, plan, path, doc.data.get("facefile"))
            if line:
                found[DATAPUMP] = line
    return found


def facefile_for(settings: HostSettings, plan: HostPlan) -> str | None:
    """``faces_data_file``: the host's own value, else the versioned face list (the role default)."""
    if plan.facelist is None:
        return None
    return settings.faces_data_file or plan.facelist.csv


def datapump_patch(settings: HostSettings, plan: HostPlan, text: str | None) -> PatchResult:
    """``facefile`` in ``datapump.yaml`` on a datasink that gets a face list (§3.12)."""
    value = facefile_for(settings, plan)
    if value is None or plan.facelist is None:
        return PatchResult(None)
    dest = settings.path("datapump_config_path")
    if text is None:
        return PatchResult(
            None,
            (
                f"{dest} does not exist yet (the datapump role writes it): "
                "the face list is placed, the config is not patched",
            ),
        )
    doc, problems = load(dest, text)
    if doc is None or problems or not isinstance(doc.data, dict):
        return PatchResult(None, tuple(str(p) for p in problems) or (f"{dest}: not a mapping",))
    refused = facefile_refusal(settings, plan, dest, doc.data.get("facefile"))
    if refused:
        return PatchResult(None, (refused,))
    models = (plan.facelist.key,) if value == plan.facelist.csv else ()
    return PatchResult(Patch(dest, DATAPUMP, MappingProxyType({("facefile",): value}), models))


def is_registry_facelist(plan: HostPlan, path: object) -> bool:
    """Whether ``path`` is one of the versioned face lists the deploy places on this datasink."""
    if plan.facelist is None or not isinstance(path, str):
        return False
    if path == plan.facelist.current_link:  # facelist_current.csv: the registry's, switched by it
        return True
    prefix = f"{plan.facelist.directory}/facelist_"
    version = path[len(prefix) : -len(".csv")] if path.startswith(prefix) else ""
    return path.endswith(".csv") and is_version(version)


def facefile_refusal(
    settings: HostSettings, plan: HostPlan, dest: str, current: object
) -> str | None:
    """One line when patching ``facefile`` would change the datapump's locked-event list by
    accident: the file names a list that is none of the registry's (the original's group_vars
    override, e.g. ``faces/facelist_gamma4.csv``) and ``faces_data_file`` is not set for the host."""
    if settings.faces_data_file or plan.facelist is None or current is None:
        return None
    if is_registry_facelist(plan, current):
        return None
    return (
        f"{dest}: facefile is {current} (it locks events against deletion), not a registry face "
        f"list; set faces_data_file for {settings.name}: {current} to keep it, or "
        f"{plan.facelist.csv} to switch to the registry's list"
    )
