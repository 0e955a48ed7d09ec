"""The per-host plan: which models a host gets, at which version, at which node path.

Pure: host groups + host data + the registry in, an immutable plan out. Deploy files turn the plan
into operations; templates only print the paths it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .registry import Registry

SENTINEL = "sentinel"
IMAGENODE = "imagenode"
DATAPUMP = "datapump"

# Files the face_recognition model ships that a node owns once it has them: copied only if
# absent, never overwritten, never part of the node-side integrity check.
LINKED_FILES = {"face_recognition": ("facelist.csv", "facedata.hdf5")}


@dataclass(frozen=True)
class HostInfo:
    """What the plan needs to know about one inventory host."""

    name: str
    groups: tuple[str, ...]
    data: Mapping

    @property
    def is_sentinel(self) -> bool:
        return "sentinels" in self.groups

    @property
    def is_outpost(self) -> bool:
        return "outposts" in self.groups

    @property
    def is_datasink(self) -> bool:
        return "datasinks" in self.groups

    @property
    def is_primary_datasink(self) -> bool:
        return self.is_datasink and self.data.get("primary_datasink") == self.name


@dataclass(frozen=True)
class Placement:
    """One model version on one node: ``{models_path}/{model}/{version}``."""

    model: str
    version: str
    role: str
    models_path: str
    pinned: bool = False

    @property
    def model_dir(self) -> str:
        return f"{self.models_path}/{self.model}"

    @property
    def path(self) -> str:
        return f"{self.models_path}/{self.model}/{self.version}"

    def file(self, name: str) -> str:
        return f"{self.path}/{name}"

    @property
    def linked_files(self) -> tuple[str, ...]:
        return LINKED_FILES.get(self.model, ()) if self.role == SENTINEL else ()


@dataclass(frozen=True)
class Facelist:
    """A non-primary datasink's copy of the face list the DataPump serves."""

    version: str
    directory: str

    @property
    def csv(self) -> str:
        return f"{self.directory}/facelist_{self.version}.csv"

    @property
    def hdf5(self) -> str:
        return f"{self.directory}/facedata_{self.version}.hdf5"

    @property
    def current_link(self) -> str:
        return f"{self.directory}/facelist_current.csv"


@dataclass(frozen=True)
class HostPlan:
    host: str
    placements: tuple[Placement, ...] = ()
    facelist: Facelist | None = None
    services: tuple[str, ...] = ()
    settings: Mapping = field(default_factory=dict)

    def placement(self, model: str, role: str | None = None) -> Placement | None:
        for item in self.placements:
            if item.model == model and (role is None or item.role == role):
                return item
        return None

    @property
    def models(self) -> tuple[str, ...]:
        names = [p.model for p in self.placements]
        if self.facelist:
            names.append("face_recognition")
        return tuple(dict.fromkeys(names))

    def uses(self, model: str) -> bool:
        return model in self.models


def sentinel_model_names(data: Mapping) -> list[str]:
    """The models the sentinel's task configs use, by its accelerator and face detector."""
    coral = data.get("sentinel_accelerator_type", "none") == "coral"
    detector = data.get("sentinel_face_detector", "ssd_mobilenet")
    models = ["mobilenet_ssd_edgetpu" if coral else "mobilenet_ssd"]
    if detector == "blazeface":
        models.append("face_detection_blazeface")
    else:
        models.append("face_detection_edgetpu" if coral else "face_detection")
    models += ["haarcascades", "openface_torch", "face_recognition"]
    return models


def outpost_model_names(data: Mapping) -> list[str]:
    return list(dict.fromkeys(data.get("outpost_models") or []))


def version_for(host: HostInfo, registry: Registry, model: str) -> tuple[str, bool]:
    """The version a host runs: its pin, else the registry's current version."""
    pins = host.data.get("model_version_overrides") or {}
    if model in pins:
        return pins[model], True
    return registry.models[model].current_version, False


def plan_host(host: HostInfo, registry: Registry) -> HostPlan:
    """Build the plan of one host. Assumes validated input (see validation.check_inventory)."""
    data = host.data
    placements: list[Placement] = []
    services: list[str] = []

    def place(models: list[str], role: str, models_path: str) -> None:
        for model in models:
            version, pinned = version_for(host, registry, model)
            placements.append(Placement(model, version, role, models_path, pinned))

    if host.is_sentinel:
        place(sentinel_model_names(data), SENTINEL, data["sentinel_models_path"])
        services.append(SENTINEL)
    if host.is_outpost:
        place(outpost_model_names(data), IMAGENODE, data["imagenode_models_path"])
        services.append(IMAGENODE)
    facelist = None
    if host.is_datasink and not host.is_primary_datasink:
        version, _ = version_for(host, registry, "face_recognition")
        facelist = Facelist(version, f"{data['sentinelcam_data_path']}/face_recognition")
        services.append(DATAPUMP)
    settings = {
        "sentinel_accelerator_type": data.get("sentinel_accelerator_type", "none"),
        "imagenode_accelerator_type": data.get("imagenode_accelerator_type", "none"),
        "sentinel_face_detector": data.get("sentinel_face_detector", "ssd_mobilenet"),
        "sentinel_blazeface_variant": data.get("sentinel_blazeface_variant", "short_range"),
    }
    blazeface = registry.models.get("face_detection_blazeface")
    if blazeface is not None:
        settings["sentinel_blazeface_file"] = blazeface.variants.get(settings["sentinel_blazeface_variant"])
    return HostPlan(host.name, tuple(placements), facelist, tuple(services), settings)
