"""The plan: which model versions each host holds, where, and which services use them.

Pure: host settings + the registry in, immutable plans out. ``plan_fleet`` plans every host at
once because a mirror (a datasink that nodes of its site pull from) holds whatever its nodes need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import catalog
from .registry import Registry
from .services import DATAPUMP as DATAPUMP  # the roles a placement serves are the services
from .services import IMAGENODE as IMAGENODE
from .services import SENTINEL as SENTINEL
from .settings import HostSettings

MIRROR = (
    "mirror"  # a datasink's store, filled for the nodes of its site (roles: the services and this)
)
ROLE_PATHS = {
    SENTINEL: "sentinel_models_path",
    IMAGENODE: "imagenode_models_path",
    MIRROR: "sentinelcam_model_registry",
}


@dataclass(frozen=True)
class Placement:
    """One model version on one host: ``{models_path}/{model}/{version}``."""

    model: str
    version: str
    role: str  # sentinel | imagenode | mirror
    models_path: str
    pinned: bool = False

    @property
    def key(self) -> str:
        return f"{self.model}/{self.version}"

    @property
    def model_dir(self) -> str:
        return f"{self.models_path}/{self.model}"

    @property
    def path(self) -> str:
        return f"{self.models_path}/{self.model}/{self.version}"

    def file(self, name: str) -> str:
        return f"{self.path}/{name}"

    @property
    def node_owned(self) -> tuple[str, ...]:
        """Files the service on this host writes (a mirror's copies are plain store copies)."""
        return catalog.node_owned(self.model) if self.role == SENTINEL else ()


@dataclass(frozen=True)
class Facelist:
    """A non-primary datasink's copy of the face list its DataPump serves."""

    version: str
    directory: str

    @property
    def key(self) -> str:
        return f"{catalog.FACE_MODEL}/{self.version}"

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
    source: str = ""  # the datasink this host pulls from (primary or a mirror)

    def placement(self, model: str, role: str | None = None) -> Placement | None:
        for item in self.placements:
            if item.model == model and (role is None or item.role == role):
                return item
        return None

    def for_role(self, role: str) -> tuple[Placement, ...]:
        return tuple(p for p in self.placements if p.role == role)

    @property
    def models(self) -> tuple[str, ...]:
        found = [p.model for p in self.placements if p.role != MIRROR]
        if self.facelist:
            found.append(catalog.FACE_MODEL)
        return tuple(dict.fromkeys(found))

    @property
    def wanted(self) -> tuple[str, ...]:
        """Every ``model/version`` this host needs from its source."""
        keys = [p.key for p in self.placements]
        if self.facelist:
            keys.append(self.facelist.key)
        return tuple(dict.fromkeys(keys))

    def uses(self, model: str) -> bool:
        return model in self.models

    def models_paths(self) -> dict[str, str]:
        """role -> models path, for the roles this host has."""
        return {p.role: p.models_path for p in self.placements}

    def pull_roots(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The directories this host pulls into, in the deploy's order: its mirror store (filled
        before any node pulls), then its own models paths; sorted, one pull session each."""
        fills = sorted({p.models_path for p in self.placements if p.role == MIRROR})
        nodes = sorted({p.models_path for p in self.placements if p.role != MIRROR})
        return tuple(fills), tuple(nodes)


def pull_sources(settings: HostSettings, plan: HostPlan, primary: str) -> tuple[str, ...]:
    """The datasinks a host pulls from: its source for models and the face list; the primary for a
    mirror's copies and for the Coral runtime packages (mirrors carry models only)."""
    from .coral import coral_roles  # noqa: PLC0415 - coral imports settings, plan does not import coral at load

    found = []
    if plan.placements or plan.facelist:
        found.append(plan.source)
    if any(p.role == MIRROR for p in plan.placements) or coral_roles(settings):
        found.append(primary)
    return tuple(dict.fromkeys(found))


def version_for(settings: HostSettings, registry: Registry, model: str) -> tuple[str, bool]:
    """V(m): the host's pin, else the registry's current version."""
    if model in settings.pins:
        return settings.pins[model], True
    return registry.models[model].current_version, False


def plan_host(settings: HostSettings, registry: Registry) -> HostPlan:
    placements: list[Placement] = []

    def place(models: tuple[str, ...], role: str) -> None:
        for model in models:
            version, pinned = version_for(settings, registry, model)
            placements.append(
                Placement(model, version, role, settings.path(ROLE_PATHS[role]), pinned)
            )

    if settings.roles.sentinel:
        place(catalog.sentinel_models(settings.sentinel_choice), SENTINEL)
    if settings.roles.outpost:
        place(settings.outpost_models, IMAGENODE)
    facelist = None
    if settings.roles.datasink and not settings.roles.primary:
        version, _ = version_for(settings, registry, catalog.FACE_MODEL)
        facelist = Facelist(version, f"{settings.path('sentinelcam_data_path')}/face_recognition")
    return HostPlan(
        settings.name, tuple(placements), facelist, settings.roles.services, settings.source
    )


def plan_fleet(settings: Mapping[str, HostSettings], registry: Registry) -> dict[str, HostPlan]:
    """Every host's plan; a mirror also holds, in its store, every version its clients need."""
    plans = {name: plan_host(item, registry) for name, item in settings.items()}
    for name, item in settings.items():
        if not item.roles.datasink or item.roles.primary:
            continue
        needed = sorted(
            {key for plan in plans.values() if plan.source == name for key in plan.wanted}
        )
        if not needed:
            continue
        store = item.path("sentinelcam_model_registry")
        mirror = tuple(
            Placement(key.split("/")[0], key.split("/")[1], MIRROR, store) for key in needed
        )
        plan = plans[name]
        plans[name] = HostPlan(
            name, mirror + plan.placements, plan.facelist, plan.services, plan.source
        )
    return plans
