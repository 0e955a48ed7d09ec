"""The model catalog: per model, the files a version holds, which of them the node owns, which
hosts need it, and which config keys each file feeds.

Names and rules are the real SentinelCam ones (../shared/reference/sentinelcam-configs.md §2,
§7): configs name ``{models_path}/{model}/{version}/{file}``. Models the registry defines but the
catalog does not know are allowed: outposts can list them in ``outpost_models``; nothing names
their files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Config files, by the names the services read (keys below are "file: key.path").
GET_FACES = "GetFaces.yaml"
MOBILENET_ALL_FRAMES = "MobileNetSSD_allFrames.yaml"
FACE_RECON = "FaceRecon.yaml"
FACE_SWEEP = "FaceSweep.yaml"
FACE_DATA_UPDATE = "FaceDataUpdate.yaml"
IMAGENODE = "imagenode.yaml"
DATAPUMP = "datapump.yaml"


@dataclass(frozen=True)
class SentinelChoice:
    """What picks a sentinel's models: its accelerator and its face detector."""

    accelerator: str  # coral | cpu | none | ncs2
    face_detection_model: str  # ssd_mobilenet | blazeface

    @property
    def coral(self) -> bool:
        return self.accelerator == "coral"


def _always(_: SentinelChoice) -> bool:
    return True


def _never(_: SentinelChoice) -> bool:
    return False


@dataclass(frozen=True)
class ModelSpec:
    """One model as the services use it."""

    name: str
    files: tuple[str, ...]  # every version holds these
    node_owned: tuple[str, ...] = ()  # the service writes them on the node
    variant_files: bool = False  # the registry's ``variants`` name more required files
    sentinel: Callable[[SentinelChoice], bool] = _never  # does a sentinel's task set name it?
    feeds: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    demo_sizes: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def required_files(self, variants: Mapping[str, str] | None = None) -> tuple[str, ...]:
        """The files a published version must hold (variant files included)."""
        extra = tuple(sorted(set((variants or {}).values()))) if self.variant_files else ()
        return tuple(dict.fromkeys(self.files + extra))


def _spec(
    name: str, files: dict[str, int], feeds: dict[str, tuple[str, ...]], **kwargs
) -> ModelSpec:
    return ModelSpec(
        name,
        tuple(files),
        feeds=MappingProxyType(feeds),
        demo_sizes=MappingProxyType(files),
        **kwargs,
    )


CATALOG: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _spec(
                "mobilenet_ssd",
                {
                    "MobileNetSSD_deploy.prototxt": 29_353,
                    "MobileNetSSD_deploy.caffemodel": 23_147_564,
                },
                {
                    "MobileNetSSD_deploy.prototxt": (
                        f"{MOBILENET_ALL_FRAMES}: mobilenetssd.prototxt_path",
                        f"{IMAGENODE}: cameras.*.detectors.outpost.mobilenetssd.prototxt_path",
                    ),
                    "MobileNetSSD_deploy.caffemodel": (
                        f"{MOBILENET_ALL_FRAMES}: mobilenetssd.model_path",
                        f"{IMAGENODE}: cameras.*.detectors.outpost.mobilenetssd.model_path",
                    ),
                },
                sentinel=_always,
            ),
            _spec(
                "mobilenet_ssd_edgetpu",
                {
                    "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite": 6_651_808,
                    "coco_labels.txt": 1_038,
                },
                {
                    "ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite": (
                        f"{MOBILENET_ALL_FRAMES}: mobilenetssd.edgetpu_model",
                        f"{IMAGENODE}: cameras.*.detectors.outpost.mobilenetssd.edgetpu_model",
                    ),
                    "coco_labels.txt": (
                        f"{MOBILENET_ALL_FRAMES}: mobilenetssd.model_labels",
                        f"{IMAGENODE}: cameras.*.detectors.outpost.mobilenetssd.model_labels",
                    ),
                },
                sentinel=_always,
            ),  # MobileNetSSD_allFrames.yaml names both, whatever the accelerator
            _spec(
                "mobilenet_ssd_depthai",
                {"mobilenet-ssd-300x300.rvc2.tar.xz": 14_505_792},
                {
                    "mobilenet-ssd-300x300.rvc2.tar.xz": (
                        f"{IMAGENODE}: cameras.*.detectors.outpost.depthai.nn_archive",
                    )
                },
            ),
            _spec(
                "face_detection",
                {"deploy.prototxt": 28_104, "res10_300x300_ssd_iter_140000.caffemodel": 10_666_211},
                {
                    "deploy.prototxt": (f"{GET_FACES}: face_detection.prototxt_path",),
                    "res10_300x300_ssd_iter_140000.caffemodel": (
                        f"{GET_FACES}: face_detection.model_path",
                    ),
                },
                sentinel=_always,
            ),  # GetFaces.yaml keeps the CPU fallback on coral too
            _spec(
                "face_detection_edgetpu",
                {"ssd_mobilenet_v2_face_quant_postprocess_edgetpu.tflite": 6_844_064},
                {
                    "ssd_mobilenet_v2_face_quant_postprocess_edgetpu.tflite": (
                        f"{GET_FACES}: face_detection.edgetpu_model",
                    )
                },
                sentinel=lambda c: c.coral and c.face_detection_model != "blazeface",
            ),
            _spec(
                "face_detection_blazeface",
                {},  # the files are the registry's variants (face_detection_{short,full}_range_edgetpu.tflite)
                {"<variant>": (f"{GET_FACES}: face_detection.edgetpu_model",)},
                variant_files=True,
                sentinel=lambda c: c.coral and c.face_detection_model == "blazeface",
            ),
            _spec(
                "face_recognition",
                {
                    "facemodel.pickle": 2_104_873,
                    "baselines.hdf5": 1_377_024,
                    "facelist.csv": 48_211,
                    "facedata.hdf5": 3_512_448,
                },
                {
                    "facemodel.pickle": (f"{FACE_RECON}: facemodel",),
                    "baselines.hdf5": (f"{FACE_RECON}: baselines",),
                    "facelist.csv": (
                        f"{FACE_SWEEP}: facefile",
                        f"{FACE_DATA_UPDATE}: facefile",
                        f"{DATAPUMP}: facefile",
                    ),
                    "facedata.hdf5": (f"{FACE_DATA_UPDATE}: facedata",),
                },
                node_owned=(
                    "facelist.csv",
                    "facedata.hdf5",
                ),  # FaceSweep rewrites, FaceDataUpdate appends
                sentinel=_always,
            ),
            _spec(
                "haarcascades",
                {"haarcascade_eye.xml": 341_406},
                {
                    "haarcascade_eye.xml": (
                        f"{FACE_RECON}: face_aligner.haarcascade_path",
                        f"{FACE_SWEEP}: face_aligner.haarcascade_path",
                        f"{FACE_DATA_UPDATE}: face_aligner.haarcascade_path",
                    )
                },
                sentinel=_always,
            ),
            _spec(
                "openface_torch",
                {"openface_nn4.small2.v1.t7": 31_510_785},
                {
                    "openface_nn4.small2.v1.t7": (
                        f"{FACE_RECON}: face_embeddings.model_path",
                        f"{FACE_DATA_UPDATE}: face_embeddings.model_path",
                    )
                },
                sentinel=_always,
            ),
        )
    }
)

FACE_MODEL = "face_recognition"
FACELIST = "facelist.csv"
FACEDATA = "facedata.hdf5"
BLAZEFACE = "face_detection_blazeface"
BLAZEFACE_VARIANTS = {"short": "short_range", "full": "full_range"}  # host setting -> registry key


def file_feeding(model: str, config: str, key: str) -> str:
    """The file of ``model`` whose path ``config``'s ``key`` holds (its ``feeds``): the configs
    name the keys, the catalog alone names the files."""
    wanted = f"{config}: {key}"
    for name, keys in spec(model).feeds.items():
        if wanted in keys:
            return name
    raise KeyError(f"the catalog names no {model} file for {wanted}")


def spec(model: str) -> ModelSpec:
    """The catalog entry, or an entry with no known files for a model the catalog does not know."""
    return CATALOG.get(model) or ModelSpec(model, ())


def node_owned(model: str) -> tuple[str, ...]:
    return spec(model).node_owned


def sentinel_models(choice: SentinelChoice) -> tuple[str, ...]:
    """Every model a sentinel's five task files name, in catalog order."""
    return tuple(name for name, item in CATALOG.items() if item.sentinel(choice))
