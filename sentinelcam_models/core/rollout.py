"""The rollout of one host, decided purely: what to pull, which face files to carry, which configs to
write, which services to restart and gate, and what to prune.

Inputs are the validated inventory, the store's manifest digests (pre-flight) and what the node
reported before the run (NodeState); the output is a ``HostActions`` value that deploys/models.py
turns into operations, in the same fleet-wide order on every host. Nothing here talks to a host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import catalog
from .configs import TASK_FILES, Patch, datapump_patch, imagenode_patch, render, sentinel_task_files
from .coral import UDEV_RULE_PATH, coral_roles
from .names import is_version
from .nodestate import NodeState
from .plan import IMAGENODE, MIRROR, SENTINEL, HostPlan, Placement
from .policy import POLICY_FILE
from .registry import BUILTIN_PROBE, Registry
from .sentinelconf import accelerator_refusal
from .services import SERVICES
from .settings import HostSettings

CONFIG_SLOTS = (*TASK_FILES, "imagenode.yaml", "datapump.yaml")  # fleet-wide order of config writes
STAGING_ROOT = (
    ".sentinelcam-pull"  # {models_path}/.sentinelcam-pull: the one session's staging tree
)


@dataclass(frozen=True)
class Pull:
    """One version into one models path, verified against the store's manifest digest."""

    model: str
    version: str
    models_path: str
    digest: str
    link: str | None = None  # an installed version of the same model: unchanged files are linked
    keep_node_owned: bool = False  # reinstalling a version in place: its node-owned files stay
    node_owned: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.model}/{self.version}"


@dataclass(frozen=True)
class PullSession:
    """Everything one host pulls from one datasink, in one rsync/SSH session."""

    source: str  # the datasink's inventory name
    models_path: str
    items: tuple[Pull, ...]


@dataclass(frozen=True)
class Carry:
    """``face_state: carry``: the node's working face files go with it into the version it switches to."""

    model_dir: str
    from_version: str
    to_version: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class ConfigWrite:
    slot: str  # e.g. GetFaces.yaml, imagenode.yaml
    dest: str
    text: str
    old_text: str | None  # what the revert puts back (None: the file did not exist)
    restarts: str | None  # the service that must restart when it changes (None: re-read per job)
    models: tuple[str, ...] = ()  # model/version keys its paths name


@dataclass(frozen=True)
class Probe:
    model: str
    version: str
    argv: tuple[str, ...]  # the registry's probe command + the installed files
    timeout: int


@dataclass(frozen=True)
class Restore:
    """A config as it was before the switch (None: the file did not exist), for the revert."""

    dest: str
    text: str | None
    restarts: str | None


@dataclass(frozen=True)
class Gate:
    """What proves the new versions work on this node (issue: health gate), and how to revert."""

    services: tuple[str, ...]  # restarted services: active and no restarts for `settle` seconds
    probes: tuple[Probe, ...]
    check: tuple[str, ...]  # the host's own check command (model_health_check)
    settle: int
    timeout: int
    revert: tuple[Restore, ...]  # the old configs, put back when the gate fails
    versions: Mapping[str, str] = field(default_factory=dict)  # model -> version switched to

    @property
    def judges(self) -> bool:
        """Whether it has anything to judge: a restarted service, a probe or the host's check.
        Without, it can only pass and write its record."""
        return bool(self.services or self.probes or self.check)


@dataclass(frozen=True)
class Prune:
    models_path: str
    model: str
    versions: tuple[str, ...]


@dataclass(frozen=True)
class FacelistStep:
    version: str
    directory: str
    needs_files: bool  # the versioned files are missing
    needs_link: bool  # facelist_current.csv points elsewhere


@dataclass(frozen=True)
class HostActions:
    host: str
    pulls: tuple[PullSession, ...] = ()
    carry: Carry | None = None
    facelist: FacelistStep | None = None
    staging: tuple[str, ...] = ()  # leftover staging paths to remove (names the deploy creates)
    configs: tuple[ConfigWrite, ...] = ()
    restarts: tuple[str, ...] = ()
    gate: Gate | None = None
    prune: tuple[Prune, ...] = ()
    problems: tuple[str, ...] = ()  # the host's configs are refused (its models still install)
    refused: tuple[str, ...] = ()  # nothing at all happens on this host


def active_versions(
    plan: HostPlan, node: NodeState, config_paths: list[str]
) -> dict[str, set[str]]:
    """model -> versions the node's current configs name (read from the configs themselves)."""
    found: dict[str, set[str]] = {}
    roots = {p.models_path for p in plan.placements if p.role != MIRROR}
    models = {p.model for p in plan.placements}
    for path in config_paths:
        text = node.configs.get(path)
        if not text:
            continue
        for root in roots:
            for chunk in text.split(root + "/")[1:]:
                parts = chunk.split("/")
                if len(parts) >= 2 and parts[0] in models and is_version(parts[1]):
                    found.setdefault(parts[0], set()).add(parts[1])
    if plan.facelist:
        for path in config_paths:
            for chunk in (node.configs.get(path) or "").split("/facelist_")[1:]:
                if chunk[:10] and is_version(chunk[:10]) and chunk[10:14] == ".csv":
                    found.setdefault(catalog.FACE_MODEL, set()).add(chunk[:10])
    return found


def _pull_for(p: Placement, node: NodeState, digest: str, deep: bool) -> Pull | None:
    installed = node.versions(p.models_path, p.model)
    info = installed.get(p.version)
    if info and info.complete and info.digest == digest and not (deep and info.intact is False):
        return None
    others = sorted(
        (v for v, i in installed.items() if v != p.version and i.complete and i.digest),
        reverse=True,
    )
    return Pull(
        p.model,
        p.version,
        p.models_path,
        digest,
        others[0] if others else None,
        keep_node_owned=info is not None,
        node_owned=p.node_owned,
    )


def _facelist(plan: HostPlan, node: NodeState) -> FacelistStep | None:
    fl = plan.facelist
    if fl is None:
        return None
    needs_files = f"facelist_{fl.version}.csv" not in node.facelists
    needs_link = node.facelist_current != f"facelist_{fl.version}.csv"
    if not (needs_files or needs_link):
        return None
    return FacelistStep(fl.version, fl.directory, needs_files, needs_link)


def config_paths(settings: HostSettings) -> list[str]:
    """Every config file the deploy reads on this host, in slot order (plus the udev rule on Coral hosts)."""
    paths = []
    if settings.roles.sentinel:
        paths += [f"{settings.path('sentinel_tasks_path')}/{name}" for name in TASK_FILES]
        paths.append(settings.path("sentinel_config_path"))  # read only (sentinelconf)
    if settings.roles.outpost:
        paths.append(settings.path("imagenode_config_path"))
    if settings.roles.datasink and not settings.roles.primary:
        paths.append(settings.path("datapump_config_path"))
    if coral_roles(settings):
        paths.append(UDEV_RULE_PATH)
    if settings.roles.primary:
        paths.append(f"{settings.path('sentinelcam_data_path')}/{POLICY_FILE}")
    return paths


def decide(
    settings: HostSettings,
    plan: HostPlan,
    registry: Registry,
    digests: Mapping[str, str],
    node: NodeState,
    templates: Mapping[str, str],
    previous_of: Mapping[str, str | None],
) -> HostActions:
    """Everything this host's deploy does, from the state the node reported before the run.

    ``digests``: model/version -> the store's manifest digest; ``templates``: template name -> text;
    ``previous_of``: model -> the registry's previous version (kept on nodes for rollback).
    """
    selected = settings.models_filter
    wanted = [p for p in plan.placements if selected is None or p.model in selected]
    refused = []
    if selected is not None:
        for p in plan.placements:
            if (
                p.model not in selected
                and not node.has(p.models_path, p.model, p.version)
                and p.role != MIRROR
            ):
                refused.append(
                    f"{p.model} {p.version} is not installed and --data models= leaves it out; "
                    "add it to models= or deploy without models="
                )
    if refused:
        return HostActions(settings.name, refused=tuple(refused))

    # Pulls: one session per models path; a mirror fills its store from the primary datasink.
    sessions: dict[tuple[str, str], list[Pull]] = {}
    for p in wanted:
        pull = _pull_for(p, node, digests[p.key], settings.deep_verify)
        if pull is not None:
            source = settings.primary_datasink if p.role == MIRROR else plan.source
            sessions.setdefault((source, p.models_path), []).append(pull)
    pulls = tuple(
        PullSession(source, path, tuple(items)) for (source, path), items in sessions.items()
    )

    # Staging the deploy itself left behind; a resumable .partial of a version pulled now stays.
    pulling = {(s.models_path, i.model, i.version) for s in pulls for i in s.items}
    staging = tuple(
        f"{path}/{model}/{name}"
        for path, items in node.staging.items()
        for model, name in items
        if not (name.endswith(".partial") and (path, model, name[1 : -len(".partial")]) in pulling)
    )

    paths = config_paths(settings)
    active = active_versions(plan, node, paths)
    configs: list[ConfigWrite] = []
    problems: list[str] = []
    if settings.roles.sentinel:
        path = settings.path("sentinel_config_path")
        disagrees = accelerator_refusal(path, node.configs.get(path), settings.sentinel_accelerator)
        if disagrees:
            problems.append(disagrees)
    for task in sentinel_task_files(settings, plan, registry):
        text = render(templates[task.template], task.values)
        old = node.configs.get(task.dest)
        if old != text:
            configs.append(ConfigWrite(task.name, task.dest, text, old, None, task.models))
    patches = []
    if settings.roles.outpost:
        patches.append(
            (
                "imagenode.yaml",
                imagenode_patch(
                    settings, plan, node.configs.get(settings.path("imagenode_config_path"))
                ),
            )
        )
    if plan.facelist:
        patches.append(
            (
                "datapump.yaml",
                datapump_patch(
                    settings, plan, node.configs.get(settings.path("datapump_config_path"))
                ),
            )
        )
    for slot, result in patches:
        problems += list(result.problems)
        write = _patched(slot, result.patch, node, problems)
        if write is not None:
            configs.append(write)

    carry = _carry(settings, plan, node, active, configs)
    restarts = tuple(s for s in SERVICES if any(c.restarts == s for c in configs))
    gate = _gate(settings, plan, registry, configs, restarts, active) if configs else None
    prune = _prune(settings, plan, node, active, previous_of) if settings.prune else ()
    return HostActions(
        settings.name,
        pulls,
        carry,
        _facelist(plan, node),
        staging,
        tuple(configs),
        restarts,
        gate,
        prune,
        tuple(problems),
    )


def _patched(
    slot: str, patch: Patch | None, node: NodeState, problems: list[str]
) -> ConfigWrite | None:
    if patch is None:
        return None
    old = node.configs.get(patch.dest)
    if old is None:
        return None
    try:
        new = patch.apply(old)
    except ValueError as exc:
        problems.append(f"{patch.dest}: {exc}")
        return None
    if new == old:
        return None
    return ConfigWrite(slot, patch.dest, new, old, patch.service, patch.models)


def _carry(
    settings: HostSettings,
    plan: HostPlan,
    node: NodeState,
    active: Mapping[str, set[str]],
    configs: list[ConfigWrite],
) -> Carry | None:
    """``face_state: carry``: when the face list switches version, the working files go along."""
    if settings.face_state != "carry" or not settings.roles.sentinel:
        return None
    p = plan.placement(catalog.FACE_MODEL, SENTINEL)
    current = active.get(catalog.FACE_MODEL, set())
    if p is None or len(current) != 1 or p.version in current:
        return None
    if not any(c.slot in (catalog.FACE_SWEEP, catalog.FACE_DATA_UPDATE) for c in configs):
        return None
    (old,) = current
    if not node.has(p.models_path, p.model, old):
        return None
    return Carry(p.model_dir, old, p.version, catalog.node_owned(catalog.FACE_MODEL))


def _gate(
    settings: HostSettings,
    plan: HostPlan,
    registry: Registry,
    configs: list[ConfigWrite],
    restarts: tuple[str, ...],
    active: Mapping[str, set[str]],
) -> Gate:
    switched: dict[str, str] = {}
    for c in configs:
        for key in c.models:
            model, version = key.split("/")
            if version not in active.get(model, set()):
                switched[model] = version
    probes = []
    for model, version in sorted(switched.items()):
        entry = registry.model(model)
        placement = plan.placement(model, SENTINEL) or plan.placement(model, IMAGENODE)
        if entry is None or not entry.probe or placement is None:
            continue
        files = tuple(
            placement.file(name)
            for name in catalog.spec(model).required_files(entry.variants)
            if name not in placement.node_owned
        ) or (placement.path,)
        command = entry.probe
        if command == (BUILTIN_PROBE,):  # the shipped probe, with the service's own Python
            venv = "sentinel_venv_path" if placement.role == SENTINEL else "imagenode_venv_path"
            command = (BUILTIN_PROBE, f"{settings.path(venv)}/bin/python3", model)
        probes.append(Probe(model, version, command + files, entry.probe_timeout))
    revert = tuple(Restore(c.dest, c.old_text, c.restarts) for c in configs)
    return Gate(
        restarts,
        tuple(probes),
        settings.health_check,
        settings.health_settle,
        settings.health_timeout,
        revert,
        switched,
    )


def _prune(
    settings: HostSettings,
    plan: HostPlan,
    node: NodeState,
    active: Mapping[str, set[str]],
    previous_of: Mapping[str, str | None],
) -> tuple[Prune, ...]:
    found = []
    for p in plan.placements:
        if p.role == MIRROR:
            continue  # a mirror's store is pruned by its own retention, not by node pruning
        installed = node.versions(p.models_path, p.model)
        keep = {p.version} | active.get(p.model, set()) | ({previous_of.get(p.model)} - {None})
        # Only complete versions with a manifest are versions; anything else under the model is
        # left alone (pruning never deletes what it did not install).
        others = sorted(
            (v for v, info in installed.items() if v not in keep and info.digest), reverse=True
        )
        doomed = tuple(others[settings.node_retention :])
        if doomed:
            found.append(Prune(p.models_path, p.model, doomed))
    return tuple(found)
