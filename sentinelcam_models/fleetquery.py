"""Ask every host for its NodeModels fact in parallel through pyinfra's Python API.

One SSH connection per host and one fact command each; unreachable hosts are reported, not fatal.
"""

from __future__ import annotations

import fnmatch
from .drift import fact_arguments
from .plan import HostPlan


def select_hosts(inventory, patterns: tuple[str, ...]) -> list:
    """--limit like pyinfra's: a group name exactly, else fnmatch on host names."""
    hosts = list(inventory)
    if not patterns:
        return hosts
    chosen = []
    for pattern in patterns:
        group = inventory.get_group(pattern, None)
        matched = list(group) if group else [h for h in hosts if fnmatch.fnmatch(h.name, pattern)]
        chosen += [h for h in matched if h not in chosen]
    return chosen


def query_fleet(inventory, hosts: list, plans: dict[str, HostPlan], deep: bool = False,
                connect_timeout: int = 10, coral_args: dict[str, dict] | None = None,
                ) -> dict[str, tuple[dict | None, str | None]]:
    """{host name: (NodeModels fact or None, error or None)} for every host given.

    Hosts named in ``coral_args`` also answer the CoralRuntime fact (those arguments), under the
    NodeModels fact's ``"coral"`` key (None if it failed).
    """
    import gevent
    from pyinfra.api import Config, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.exceptions import PyinfraError

    from facts.models import NodeModels

    state = State()
    state.init(inventory, Config(CONNECT_TIMEOUT=connect_timeout, FAIL_PERCENT=None, PARALLEL=len(hosts) or 1),
               initial_limit=hosts)
    try:
        connect_all(state)
    except PyinfraError:
        pass  # every host failed to connect: reported below as unreachable

    results: dict[str, tuple[dict | None, str | None]] = {}

    def ask(host):
        if host not in state.active_hosts:
            results[host.name] = (None, "cannot connect over SSH")
            return
        try:
            fact = host.get_fact(NodeModels, deep=deep, **fact_arguments(plans[host.name], host.data.dict()))
        except Exception as exc:  # a broken connection mid-query is one host's problem
            results[host.name] = (None, f"fact failed: {exc}")
            return
        if isinstance(fact, dict) and "installed" in fact and host.name in (coral_args or {}):
            from facts.coral import CoralRuntime
            try:
                fact["coral"] = host.get_fact(CoralRuntime, **coral_args[host.name])
            except Exception:  # reported as the coral entry's "unreachable"
                fact["coral"] = None
        results[host.name] = (fact, None) if isinstance(fact, dict) and "installed" in fact else (None, "fact failed")

    gevent.joinall([gevent.spawn(ask, host) for host in hosts])
    for host in hosts:
        if host in state.active_hosts:
            try:
                host.disconnect()
            except Exception:
                pass
    return results
