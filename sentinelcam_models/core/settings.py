"""Host settings: every host data key the tool reads, its default, and its parsed, typed value.

"Parse, don't validate": ``parse_host`` turns one host's raw data into a frozen ``HostSettings`` or
problems; nothing else reads raw host data. Defaults are the original SentinelCam role defaults
(sentinelcam-configs.md §1) and live here only; ``inventories/group_data/all.py`` restates the
plain ones for operators to read (a test checks they agree). Path defaults derive from
``sentinelcam_user`` and the other paths, as the original's templated defaults did, so a host with
``sentinelcam_user: pi`` gets ``/home/pi/...`` everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from . import catalog, names
from .hostdata import (
    MISSING,
    Choice,
    Command,
    Flag,
    Fraction,
    Fractions,
    Name,
    Setting,
    Whole,
    _is_int,
    _Parser,
)
from .registry import Registry
from .services import DATAPUMP, IMAGENODE, SENTINEL

SENTINELS, OUTPOSTS, DATASINKS, TRAINERS = "sentinels", "outposts", "datasinks", "ml_trainers"
# Where an inventory hands the problems of a host's host_data file to validation (as plain data).
HOST_DATA_PROBLEMS = "sentinelcam_host_data_problems"
SENTINEL_ACCELERATORS = ("coral", "cpu", "none", "ncs2")
IMAGENODE_ACCELERATORS = ("coral", "none", "ncs2")
FACE_DETECTION_MODELS = ("ssd_mobilenet", "blazeface")
FACE_STATES = ("store", "carry")
NCS2_WARNING = (
    "NCS2 is deprecated (no Debian bookworm / Python 3.11 drivers): it keeps working "
    "with target myriad; move to coral or cpu"
)

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "primary_datasink",
        "data1",
        "the datasink holding the store",
        Name(names.is_host_name, "a host name"),
        "primary_datasink",
    ),
    Setting(
        "sentinelcam_user",
        "ops",
        "the service account; node work runs as it",
        Name(names.is_user_name, "a valid user name"),
        "user",
    ),
    Setting(
        "sentinelcam_group",
        "ops",
        "the service account's group",
        Name(names.is_user_name, "a valid group name"),
        "group",
    ),
    Setting(
        "ssh_user",
        MISSING,
        "the SSH login; `production.py` sets `admin`",
        shown="(pyinfra's default)",
    ),
    Setting(
        "sentinelcam_login", MISSING, "the account `deploys/sudoers.py` grants", shown="`ssh_user`"
    ),
    Setting(
        "sentinelcam_model_retention",
        5,
        "store: newest other versions kept",
        Whole(0, 1000),
        "store_retention",
    ),
    Setting(
        "node_model_retention",
        2,
        "nodes: other versions kept per model",
        Whole(0, 1000),
        "node_retention",
    ),
    Setting(
        "model_pull_tries",
        6,
        "attempts per pull when the datasink drops the connection",
        Whole(1, 100),
        "pull_tries",
    ),
    Setting(
        "model_pull_concurrency",
        "auto",
        "on a datasink: nodes pulling from it at once (`auto`: sshd `MaxStartups` start - 2)",
        Whole(1, 1000, auto=True),
        "pull_concurrency",
    ),
    Setting(
        "model_version_overrides",
        {},
        'host pins `{model: "YYYY-MM-DD"}` (set per host in `host_data/`)',
    ),
    Setting(
        "sentinel_accelerator_type",
        "coral",
        "`coral`, `cpu`, `none`, `ncs2` (deprecated: works, one warning per host)",
        Choice(SENTINEL_ACCELERATORS),
        "sentinel_accelerator",
    ),
    Setting(
        "imagenode_accelerator_type",
        "none",
        "`coral` installs the Coral runtime on an outpost",
        Choice(IMAGENODE_ACCELERATORS),
        "imagenode_accelerator",
    ),
    Setting(
        "sentinel_face_detection_model",
        "ssd_mobilenet",
        "or `blazeface` (coral sentinels)",
        Choice(FACE_DETECTION_MODELS),
        "face_detection_model",
    ),
    Setting(
        "sentinel_blazeface_variant",
        "full",
        "`full` or `short`",
        Choice(tuple(catalog.BLAZEFACE_VARIANTS)),
        "blazeface_variant",
    ),
    Setting(
        "face_detection_confidence",
        {"cpu": 0.5, "ncs2": 0.5, "ssd_mobilenet": 0.5, "blazeface": 0.5},
        "GetFaces confidence",
        Fractions(("cpu", "ncs2", "ssd_mobilenet", "blazeface")),
        "face_detection_confidence",
        shown="0.5 for `cpu`, `ncs2`, `ssd_mobilenet`, `blazeface`",
    ),
    Setting(
        "mobilenet_confidence",
        0.5,
        "`mobilenetssd.confidence` of every `mobilenetssd` camera in an outpost's `imagenode.yaml`",
        Fraction(),
        "mobilenet_confidence",
    ),
    Setting(
        "outpost_models",
        ["mobilenet_ssd"],
        "models an outpost receives",
        group=OUTPOSTS,
    ),
    Setting(
        "faces_data_file",
        MISSING,
        "`facefile` in a datasink's `datapump.yaml`",
        shown="the versioned face list",
    ),
    Setting(
        "face_state",
        "store",
        "`store` or `carry` (see Face files)",
        Choice(FACE_STATES),
        "face_state",
    ),
    Setting(
        "model_health_settle",
        20,
        "seconds a restarted service must stay up",
        Whole(0, 3600),
        "health_settle",
    ),
    Setting(
        "model_health_timeout",
        120,
        "seconds a service may take to come up, and the host check's limit",
        Whole(1, 3600),
        "health_timeout",
    ),
    Setting(
        "model_health_check",
        MISSING,
        "a host's own check command (absolute path)",
        Command(),
        "health_check",
        shown="none",
    ),
    Setting("prune_models", True, "node pruning on or off", Flag(), "prune"),
    Setting(
        "ssh_strict_host_key_checking",
        "yes",
        "operator-to-node SSH never trusts on first use (pyinfra reads it)",
    ),
    Setting(
        "model_registry_host",
        MISSING,
        "the datasink this host pulls models from (a site mirror)",
        shown="`primary_datasink`",
    ),
    Setting(
        "model_pull_address",
        MISSING,
        "how nodes reach this datasink",
        shown="`ssh_hostname`, else the host name",
    ),
    Setting("ssh_port", MISSING, "the host's SSH port (nodes pull through it)", shown="`22`"),
)

# Plain defaults (inventories/group_data/all.py and outposts.py restate these).
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {s.key: s.default for s in SETTINGS if s.default is not MISSING and s.group is None}
)
OUTPOST_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {s.key: s.default for s in SETTINGS if s.default is not MISSING and s.group == OUTPOSTS}
)


def settings_table() -> list[str]:
    """The README's host settings table, from the declaration."""

    def shown(s: Setting) -> str:
        if s.shown is not None:
            return s.shown
        if isinstance(s.default, (dict, list)):
            return f"`{json.dumps(s.default)}`"
        return f"`{s.default}`"

    return ["| key | default | meaning |", "|---|---|---|"] + [
        f"| `{s.key}` | {shown(s)} | {s.meaning} |" for s in SETTINGS
    ]


# Derived defaults: key -> template over other settings (resolved in this order).
DERIVED: tuple[tuple[str, str], ...] = (
    ("sentinelcam_data_path", "/home/{sentinelcam_user}/sentinelcam"),
    ("sentinelcam_model_registry", "{sentinelcam_data_path}/model_registry"),
    ("sentinel_install_path", "/home/{sentinelcam_user}/sentinel"),
    ("sentinel_config_path", "/home/{sentinelcam_user}/sentinel.yaml"),
    ("sentinel_models_path", "{sentinel_install_path}/models"),
    ("sentinel_tasks_path", "{sentinel_install_path}/tasks"),
    ("imagenode_install_path", "/home/{sentinelcam_user}/imagenode"),
    ("imagenode_config_path", "/home/{sentinelcam_user}/imagenode.yaml"),
    ("imagenode_models_path", "{imagenode_install_path}/models"),
    ("datapump_config_path", "/home/{sentinelcam_user}/datapump.yaml"),
    ("sentinelcam_venv_opencv", "/home/{sentinelcam_user}/.opencv"),
    ("sentinel_venv_path", "{sentinelcam_venv_opencv}"),
    ("imagenode_venv_path", "{sentinelcam_venv_opencv}"),
    ("coral_staging_path", "{sentinelcam_data_path}/coral_packages"),
    ("sentinelcam_state_path", "/home/{sentinelcam_user}/.sentinelcam"),
    ("sentinelcam_ssh_dir", "/home/{sentinelcam_user}/.ssh"),
)


@dataclass(frozen=True)
class Roles:
    sentinel: bool = False
    outpost: bool = False
    datasink: bool = False
    primary: bool = False  # the primary datasink: holds the store
    trainer: bool = False

    @property
    def services(self) -> tuple[str, ...]:
        found = []
        if self.sentinel:
            found.append(SENTINEL)
        if self.outpost:
            found.append(IMAGENODE)
        if self.datasink and not self.primary:
            found.append(DATAPUMP)
        return tuple(found)


@dataclass(frozen=True)
class HostSettings:
    """Everything the tool reads from one host's data, parsed and with defaults applied."""

    name: str
    roles: Roles
    primary_datasink: str
    user: str
    group: str
    login_user: str | None  # ssh_user; None: pyinfra's default (checked on the host)
    deploy_login: str | None  # sentinelcam_login (else ssh_user): the account sudoers grants
    paths: Mapping[str, str]  # every DERIVED key, absolute and safe
    sentinel_accelerator: str
    imagenode_accelerator: str
    face_detection_model: str
    blazeface_variant: str
    face_detection_confidence: Mapping[str, float]
    mobilenet_confidence: float
    outpost_models: tuple[str, ...]
    pins: Mapping[str, str]  # model_version_overrides
    faces_data_file: str | None  # None: the versioned face list of the datasink
    face_state: str
    store_retention: int  # sentinelcam_model_retention
    node_retention: int  # node_model_retention
    pull_tries: int
    pull_concurrency: int | None  # None: follow the datasink's sshd (MaxStartups)
    source: str  # the datasink (inventory name) this host pulls models from
    pull_address: str  # how nodes reach this host when it serves models
    ssh_port: int
    health_settle: int
    health_timeout: int
    health_check: tuple[str, ...]
    prune: bool
    deep_verify: bool
    models_filter: tuple[str, ...] | None

    def path(self, key: str) -> str:
        return self.paths[key]

    @property
    def sentinel_choice(self) -> catalog.SentinelChoice:
        return catalog.SentinelChoice(self.sentinel_accelerator, self.face_detection_model)


def roles_of(name: str, groups: tuple[str, ...], primary: str) -> Roles:
    datasink = DATASINKS in groups
    return Roles(
        SENTINELS in groups,
        OUTPOSTS in groups,
        datasink,
        datasink and name == primary,
        TRAINERS in groups,
    )


def _paths(p: _Parser, user: str) -> dict[str, str]:
    resolved: dict[str, str] = {"sentinelcam_user": user}
    for key, template in DERIVED:
        value = p.data.get(key)
        if value is None:
            value = template.format(**resolved)
        if not names.is_safe_path(value):
            p.bad(key, f"{value!r} is not a safe absolute path")
            value = template.format(**resolved)
        resolved[key] = names.normal_path(value)
    resolved.pop("sentinelcam_user")
    home = f"/home/{user}"
    cleaned = (
        "sentinel_models_path",
        "imagenode_models_path",
        "sentinelcam_model_registry",
        "coral_staging_path",
    )
    for key in cleaned:
        path = resolved[key]
        # Clean-ups delete under these: never a top-level directory, a home, a parent of the other
        # managed paths (the data path holds the store and the logs), or another cleaned directory
        # (node pruning in the store would delete store versions).
        if (
            path.count("/") < 2
            or path in (home, resolved["sentinelcam_data_path"])
            or any(
                other != path and other.startswith(path + "/")
                for k, other in resolved.items()
                if k != key
            )
            or any(
                resolved[other] == path
                for other in cleaned
                if other != key
                and {key, other} != {"sentinel_models_path", "imagenode_models_path"}
            )
        ):
            p.bad(
                key,
                f"{path!r} is too broad for a directory the deploy cleans (a dedicated directory, "
                f"e.g. {template_for(key).format(**_example(user))})",
            )
    return resolved


def template_for(key: str) -> str:
    return dict(DERIVED)[key]


def _example(user: str) -> dict[str, str]:
    example: dict[str, str] = {"sentinelcam_user": user}
    for key, template in DERIVED:
        example[key] = template.format(**example)
    return example


def parse_host(
    name: str, groups: tuple[str, ...], data: Mapping[str, Any], registry: Registry
) -> tuple[HostSettings | None, list[tuple[str, str]], list[tuple[str, str]]]:
    """One host's settings, or None; its problems and its warnings, as (key, message) pairs."""
    defaults = dict(DEFAULTS)
    if OUTPOSTS in groups:
        defaults.update(OUTPOST_DEFAULTS)
    p = _Parser(data, defaults)
    warnings: list[tuple[str, str]] = []
    if not names.is_host_name(name):
        p.bad("name", f"{name!r} is not a valid host name (letters, digits, . _ -)")

    # Every declared key with a kind, in declaration order.
    declared = {s.field: s.kind.parse(p, s.key) for s in SETTINGS if s.kind and s.field}
    user, primary = declared["user"], declared["primary_datasink"]
    login = data.get("ssh_user")
    if login is not None and not names.is_user_name(login):
        p.bad("ssh_user", f"{login!r} is not a valid user name")
        login = None
    deploy_login = data.get("sentinelcam_login") or login
    if deploy_login is not None and not names.is_user_name(deploy_login):
        p.bad("sentinelcam_login", f"{deploy_login!r} is not a valid user name")
        deploy_login = None
    roles = roles_of(name, groups, primary)
    paths = _paths(p, user)

    sentinel_accelerator = declared["sentinel_accelerator"]
    imagenode_accelerator = declared["imagenode_accelerator"]
    for key, value, applies in (
        ("sentinel_accelerator_type", sentinel_accelerator, roles.sentinel),
        ("imagenode_accelerator_type", imagenode_accelerator, roles.outpost),
    ):
        if value == "ncs2" and applies:
            warnings.append((key, NCS2_WARNING))
    detector, variant = declared["face_detection_model"], declared["blazeface_variant"]
    if roles.sentinel and sentinel_accelerator == "coral" and detector == "blazeface":
        entry = registry.model(catalog.BLAZEFACE)
        listed = dict(entry.variants) if entry else {}
        key = catalog.BLAZEFACE_VARIANTS.get(variant, "")
        if key not in listed:
            shown = (
                ", ".join(k for k, v in catalog.BLAZEFACE_VARIANTS.items() if v in listed) or "none"
            )
            p.bad(
                "sentinel_blazeface_variant",
                f"{variant!r} ({key}) is not a variant the registry lists for {catalog.BLAZEFACE} "
                f"(listed: {shown})",
            )

    known = registry.defined
    outpost_models: tuple[str, ...] = ()
    raw_outpost = p.get("outpost_models")
    if roles.outpost or "outpost_models" in data:
        if not isinstance(raw_outpost, (list, tuple)) or not all(
            isinstance(m, str) for m in raw_outpost
        ):
            p.bad("outpost_models", "must be a list of model names")
        else:
            for model in raw_outpost:
                if model not in known:
                    p.bad("outpost_models", f"names unknown model {model!r}")
            outpost_models = tuple(dict.fromkeys(raw_outpost))

    pins: dict[str, str] = {}
    raw_pins = p.get("model_version_overrides")
    if raw_pins is None:
        raw_pins = {}
    if not isinstance(raw_pins, dict):
        p.bad("model_version_overrides", 'must be a mapping of model -> "YYYY-MM-DD"')
        raw_pins = {}
    for model, version in raw_pins.items():
        key = f"model_version_overrides.{model}"
        if model not in known:
            p.bad(key, f"pins unknown model {model!r} (not in the registry)")
        elif not names.is_version(version):
            p.bad(key, names.describe_version_error(version))
        else:
            pins[str(model)] = version

    faces_file = data.get("faces_data_file")
    if faces_file is not None and not names.is_safe_path(faces_file):
        p.bad("faces_data_file", f"{faces_file!r} is not a safe absolute path")
        faces_file = None

    source = p.get("model_registry_host") or primary
    if not names.is_host_name(source):
        p.bad(
            "model_registry_host",
            f"{source!r} is not a host name (the datasink this host pulls from)",
        )
        source = primary
    address = data.get("model_pull_address") or data.get("ssh_hostname") or name
    if not names.is_host_name(address):
        if "model_pull_address" in data or "ssh_hostname" in data:
            p.bad(
                "model_pull_address" if "model_pull_address" in data else "ssh_hostname",
                f"{address!r} is not a host name or address",
            )
        address = name
    ssh_port = data.get("ssh_port", 22)
    if not _is_int(ssh_port, 1, 65535):
        p.bad("ssh_port", f"{ssh_port!r} is not a port number")
        ssh_port = 22

    models_filter: tuple[str, ...] | None = None
    raw_filter = data.get("models")
    if raw_filter not in (None, "", False):
        items = raw_filter if isinstance(raw_filter, (list, tuple)) else str(raw_filter).split(",")
        models_filter = tuple(str(i).strip() for i in items if str(i).strip())
        for model in models_filter:
            if model not in registry.models:
                p.bad(
                    "models",
                    f"--data models: unknown model {model!r} (known: {', '.join(registry.models)})",
                )
    verify = data.get("verify_models", "")
    if verify not in ("", None, "deep"):
        p.bad("verify_models", f"{verify!r}: the only value is deep")

    settings = HostSettings(
        name=name,
        roles=roles,
        login_user=login,
        deploy_login=deploy_login,
        paths=MappingProxyType(paths),
        outpost_models=outpost_models,
        pins=MappingProxyType(pins),
        faces_data_file=faces_file,
        source=source,
        pull_address=address,
        ssh_port=ssh_port,
        deep_verify=verify == "deep",
        models_filter=models_filter,
        **declared,
    )
    return (None if p.found else settings), p.found, warnings
