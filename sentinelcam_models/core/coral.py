"""The Coral EdgeTPU runtime, pure: which services on a host use it, what versions they should
have, and how a node's installed versions compare (drift).

Sentinels with ``sentinel_accelerator_type: coral`` and outposts with ``imagenode_accelerator_type:
coral`` run the libedgetpu deb and the tflite_runtime and pycoral wheels in their virtualenv.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .registry import PIP_PACKAGES, CoralPackages
from .services import IMAGENODE, SENTINEL
from .settings import HostSettings

UDEV_RULE_PATH = "/etc/udev/rules.d/99-coral-edgetpu.rules"


@dataclass(frozen=True)
class CoralRole:
    service: str  # sentinel | imagenode
    venv: str


def coral_roles(settings: HostSettings) -> tuple[CoralRole, ...]:
    """The services on a host that use the Coral runtime, each with its virtualenv."""
    roles = []
    if settings.roles.sentinel and settings.sentinel_accelerator == "coral":
        roles.append(CoralRole(SENTINEL, settings.path("sentinel_venv_path")))
    if settings.roles.outpost and settings.imagenode_accelerator == "coral":
        roles.append(CoralRole(IMAGENODE, settings.path("imagenode_venv_path")))
    return tuple(roles)


def venvs_of(roles: tuple[CoralRole, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(role.venv for role in roles))


def unset_problem(coral: CoralPackages) -> str | None:
    """Why Coral hosts cannot be deployed while registry digests are unset, or None."""
    unset = coral.unset(with_dev=False)
    if not unset:
        return None
    return (
        f"{', '.join(f.key for f in unset)} unset in the registry: record each release file's digest "
        "(sha256sum FILE), then `sentinelcam-models coral fetch`"
    )


def udev_rule(group: str) -> str:
    """The Coral USB accelerator's udev rule: the service's group may open the device.

    The accelerator enumerates as 1a6e:089a (Global Unichip) until the runtime loads its firmware,
    then as 18d1:9302 (Google).
    """
    return (
        "# Coral EdgeTPU USB accelerator (managed by sentinelcam-models: deploys/coral.py)\n"
        f'SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="1a6e", ATTRS{{idProduct}}=="089a", MODE="0660", GROUP="{group}"\n'
        f'SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="18d1", ATTRS{{idProduct}}=="9302", MODE="0660", GROUP="{group}"\n'
    )


def installed_versions(fact: Mapping | None, venv: str) -> dict[str, str | None]:
    """{package: installed version or None} for one virtualenv, from a CoralRuntime fact."""
    fact = fact or {}
    env = (fact.get("venvs") or {}).get(venv) or {}
    found: dict[str, str | None] = {"libedgetpu": fact.get("libedgetpu")}
    found.update({package: env.get(package) for package in PIP_PACKAGES})
    return found


def coral_fact(raw: Mapping | None) -> dict | None:
    """The node's coral record (dpkg status and version, pip versions per virtualenv) as
    ``installed_versions`` reads it; None when the node did not answer for Coral."""
    if not isinstance(raw, Mapping):
        return None
    status, _, version = str(raw.get("deb") or "").partition(" ")
    venvs = raw.get("venvs")
    return {
        "libedgetpu": (version.strip() or None) if status == "ii" else None,
        "venvs": {
            k: v
            for k, v in (venvs if isinstance(venvs, Mapping) else {}).items()
            if isinstance(v, Mapping)
        },
    }


def wheels_to_install(coral: CoralPackages, fact: Mapping | None, venv: str) -> tuple[str, ...]:
    """The pip packages whose installed version differs (in install order)."""
    have = installed_versions(fact, venv)
    return tuple(p for p in PIP_PACKAGES if have.get(p) != coral.versions[p])


def assess(
    coral: CoralPackages, roles: tuple[CoralRole, ...], fact: Mapping | None, reachable: bool = True
) -> dict | None:
    """The drift report's coral entry: desired vs installed, ``ok``/``drift``/``missing``/``unreachable``."""
    if not roles:
        return None
    desired = dict(coral.versions)
    entry: dict = {"desired": desired, "installed": {}, "status": "ok", "detail": ""}
    if not reachable or fact is None:
        entry["status"] = "unreachable"
        return entry
    problems, missing = [], False
    for venv in venvs_of(roles):
        found = installed_versions(fact, venv)
        entry["installed"][venv] = found
        for package, want in desired.items():
            have = found.get(package)
            if have is None:
                missing = True
                problems.append(f"{package} not installed")
            elif have != want:
                problems.append(f"{package} {have}, want {want}")
    if problems:
        entry["status"] = "missing" if missing else "drift"
        entry["detail"] = ", ".join(dict.fromkeys(problems))
    return entry
