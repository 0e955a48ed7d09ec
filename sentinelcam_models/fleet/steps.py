"""Deploy steps shared by several deploy files: the Coral runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from pyinfra.api import deploy

from operations import coral as coral_ops
from operations import system

from ..core.coral import UDEV_RULE_PATH, coral_fact, coral_roles, udev_rule, wheels_to_install
from ..core.nodestate import NodeState
from ..core.registry import PIP_PACKAGES
from ..core.settings import HostSettings
from .preflight import RunContext


def _coral_runtime(
    ctx: RunContext, settings: HostSettings, node: NodeState, as_service: dict
) -> dict[str, list]:
    """Bring this host's Coral runtime to the registry's versions; return service -> operations
    whose change calls for its restart (the caller restarts once per service)."""
    coral = ctx.registry.coral
    roles = coral_roles(settings)
    if coral is None or not roles:
        return {}
    fact = coral_fact(node.coral)
    rule = udev_rule(settings.group)
    if node.configs.get(UDEV_RULE_PATH) != rule:
        written = system.file(
            name=f"udev rule {UDEV_RULE_PATH}", path=UDEV_RULE_PATH, content=rule, _sudo=True
        )
        coral_ops.reload_udev(name="Reload udev rules", _if=written.did_change)
    deb_needed = (fact or {}).get("libedgetpu") != coral.versions["libedgetpu"]
    wheels = {role.venv: wheels_to_install(coral, fact, role.venv) for role in roles}
    if not deb_needed and not any(wheels.values()):
        return {}
    staging = settings.path("coral_staging_path")
    primary = ctx.datasinks[ctx.checked.primary]
    coral_ops.stage(
        name="Stage and verify Coral packages",
        directory=staging,
        files={f.name: f.sha256 or "" for f in coral.runtime_files()},
        source=primary.source,
        port=primary.port,
        tries=settings.pull_tries,
        window=(primary.name, primary.window),
        **as_service,
    )
    changes: dict[str, list] = {}
    deb_op = None
    if deb_needed:
        deb = coral.deb
        deb_op = coral_ops.deb(
            name=f"Install {coral.deb_package_name} {coral.versions['libedgetpu']}",
            staged=f"{staging}/{deb.name}",
            sha256=deb.sha256 or "",
            version=coral.versions["libedgetpu"],
            package=coral.deb_package_name,
            _sudo=True,
        )
    by_venv = {}
    for venv, todo in wheels.items():
        if not todo:
            continue
        packages = [
            (name, coral.versions[name], coral.wheel(name).name, coral.wheel(name).sha256 or "")
            for name in PIP_PACKAGES
            if name in todo
        ]
        by_venv[venv] = coral_ops.wheels(
            name=f"pip install Coral wheels into {venv}",
            venv=venv,
            directory=staging,
            packages=packages,
            **as_service,
        )
    for role in roles:
        ops = [op for op in (deb_op, by_venv.get(role.venv)) if op is not None]
        if ops:
            changes[role.service] = ops
    return changes


# pyinfra types a deploy like an operation (returning OperationMeta); this one returns its changes.
coral_runtime = cast(
    Callable[[RunContext, HostSettings, NodeState, dict], dict[str, list]],
    deploy("Coral EdgeTPU runtime")(_coral_runtime),
)
