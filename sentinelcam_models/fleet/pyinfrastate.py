"""A new pyinfra State over an inventory whose hosts may hold live connections (the store's).

``State.init`` re-creates every host's connector, which would cut them: live ones are carried
over, dead ones are dropped so that the run connects them again.
"""

from __future__ import annotations

import contextlib
from typing import Any

KEEPALIVE = 30  # seconds: SSH keepalives on a connection kept for a whole command


def new_state(inventory: Any, config: Any, initial_limit: list | None = None, **kwargs: Any) -> Any:
    """``State(...).init(inventory, config, initial_limit)`` for a new run on an inventory used
    before: every host whose connection is still alive keeps it (pyinfra would replace its
    connector by a new, unconnected one), a host whose connection died is connected again, and
    no host keeps the operations of an earlier run."""
    from pyinfra.api import State  # noqa: PLC0415 - pyinfra only where hosts are reached

    live = {}
    for host in inventory:
        if host.connected and alive(host):
            live[host] = host.connector
        elif host.connected:
            drop(host)
    for host in inventory:  # a Host keeps the order of the last run's operations: a new run
        host.op_hash_order = []  # starts with none (else its order names operations it has not)
        host.loop_position = []
    state = State(**kwargs)
    state.init(inventory, config, initial_limit=initial_limit)
    for host, connector in live.items():
        connector.state = state
        host.connector = connector
    return state


def alive(host: Any) -> bool:
    """Is ``host``'s connection still up? An SSH connection is when its transport is active; a
    connector without a client (local, @fake) has nothing to lose."""
    client = getattr(host.connector, "client", None)
    if client is None:
        return True
    try:
        transport = client.get_transport()
    except Exception:
        return False
    return transport is not None and transport.is_active()


def drop(host: Any) -> None:
    """Forget a dead connection (closing what is left of it): the next run connects again."""
    with contextlib.suppress(Exception):  # it is dead already: what is left is closed best effort
        host.disconnect()
    host.connected = False


def keep_alive(host: Any, seconds: int = KEEPALIVE) -> None:
    """SSH keepalives on a connection a command keeps across waits (idle NAT/firewall timeouts)."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is not None:
        transport.set_keepalive(seconds)
