"""Ask every host for its NodeState in parallel through pyinfra's API: one SSH connection and one
command per host; unreachable hosts are reported, never fatal."""

from __future__ import annotations

import contextlib
import fnmatch
from typing import Any

from ..core import catalog
from ..core.coral import coral_roles
from ..core.nodestate import NodeState
from ..core.problems import one_line
from ..core.rollout import config_paths
from ..core.validation import CheckedInventory
from .pyinfrastate import new_state
from .remote import service_args


def select_hosts(inventory: Any, patterns: tuple[str, ...]) -> list[Any]:
    """--limit like pyinfra's: a group name exactly, else fnmatch on host names."""
    hosts = list(inventory)
    if not patterns:
        return hosts
    chosen: list[Any] = []
    for pattern in patterns:
        group = inventory.get_group(pattern, None)
        matched = list(group) if group else [h for h in hosts if fnmatch.fnmatch(h.name, pattern)]
        chosen += [h for h in matched if h not in chosen]
    return chosen


def fact_arguments(
    checked: CheckedInventory, name: str, deep: bool, with_coral: bool, with_status: bool = True
) -> dict[str, Any]:
    """The NodeState fact's arguments for host ``name``. ``with_status=False`` leaves out what
    only drift reports, the services' states and the last health record: the deploy decides
    without them, and each service state is one ``systemctl show`` on the node."""
    settings, plan = checked.settings[name], checked.plans[name]
    coral = checked.registry.coral
    roles = coral_roles(settings) if with_coral else ()
    return {
        "roots": sorted({p.models_path for p in plan.placements}),
        "configs": config_paths(settings),
        "services": list(settings.roles.services) if with_status else [],
        "facelists": plan.facelist.directory if plan.facelist else "",
        "deep": deep,
        "owned": list(catalog.node_owned(catalog.FACE_MODEL)),
        "health": f"{settings.path('sentinelcam_state_path')}/health.json" if with_status else "",
        "coral_package": coral.deb_package_name if coral and roles else "",
        "coral_venvs": sorted({r.venv for r in roles}),
    }


def query_fleet(
    inventory: Any,
    hosts: list[Any],
    checked: CheckedInventory,
    deep: bool = False,
    with_coral: bool = True,
    connect_timeout: int = 10,
) -> dict[str, tuple[NodeState | None, str | None]]:
    """{host name: (NodeState or None, error or None)} for every host given; a NodeState whose
    answer was refused comes with its ``failure`` as the error."""
    import gevent  # noqa: PLC0415 - pyinfra's engine, only where hosts are reached
    from pyinfra.api import Config  # noqa: PLC0415
    from pyinfra.api.connect import connect_all  # noqa: PLC0415
    from pyinfra.api.exceptions import PyinfraError  # noqa: PLC0415
    from pyinfra.facts.server import User  # noqa: PLC0415

    from facts.node import NodeState as NodeStateFact  # noqa: PLC0415

    connected = {host for host in inventory if host.connected}  # the store's: kept
    state = new_state(
        inventory,
        Config(CONNECT_TIMEOUT=connect_timeout, FAIL_PERCENT=None, PARALLEL=len(hosts) or 1),
        initial_limit=hosts,
    )
    with contextlib.suppress(PyinfraError):  # every host failed: reported below as unreachable
        connect_all(state)

    results: dict[str, tuple[NodeState | None, str | None]] = {}

    def ask(host: Any) -> None:
        if host not in state.active_hosts:
            results[host.name] = (None, "cannot connect over SSH")
            return
        settings = checked.settings[host.name]
        try:
            login = settings.login_user or host.get_fact(User)
            fact = host.get_fact(
                NodeStateFact,
                **fact_arguments(checked, host.name, deep, with_coral),
                **service_args(settings, login),
                _timeout=NodeStateFact.timeout(deep),
            )
        except Exception as exc:  # a broken connection mid-query is one host's problem
            results[host.name] = (None, one_line(f"fact failed: {type(exc).__name__}: {exc}"))
            return
        if not isinstance(fact, NodeState):
            results[host.name] = (None, "fact failed")
        elif fact.failure:  # the node answered, but nothing it said can be trusted
            results[host.name] = (fact, fact.failure)
        else:
            results[host.name] = (fact, None) if fact.login else (None, "fact failed")

    gevent.joinall([gevent.spawn(ask, host) for host in hosts])
    for host in hosts:
        if host in state.active_hosts and host not in connected:
            with contextlib.suppress(Exception):
                host.disconnect()
    return results
