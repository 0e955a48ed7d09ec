"""The deploy's node-state questions: one NodeState fact per selected host, as the service user,
all hosts at once.

pyinfra prepares the hosts one after another; asked one by one, the facts would cost one round
trip per host in a row. So they are asked together, once per run, in the background while the
pre-flight reaches the store (``start``), and every host's deploy takes its own answer
(fleet/deploy.py: ``node_state``).
"""

from __future__ import annotations

from typing import Any

from ..core.nodestate import NodeState
from ..core.validation import CheckedInventory
from .remote import as_service

Answers = dict[str, NodeState | BaseException]


def ask(host: Any, checked: CheckedInventory) -> NodeState:
    """One host's NodeState for the deploy (one command, as the service user): what it decides
    from, without the service states and health record only drift reports."""
    from facts.node import NodeState as NodeStateFact  # noqa: PLC0415 - pyinfra, only for hosts

    from .query import fact_arguments  # noqa: PLC0415 - query imports the pre-flight, which imports this

    settings = checked.settings[host.name]
    return host.get_fact(
        NodeStateFact,
        **fact_arguments(
            checked, host.name, settings.deep_verify, with_coral=True, with_status=False
        ),
        _timeout=NodeStateFact.timeout(settings.deep_verify),
        **as_service(host, settings),
    )


def _connected(inventory: Any, selected: tuple[str, ...] | list[str]) -> list[Any]:
    hosts = [inventory.get_host(name, None) for name in selected]
    return [h for h in hosts if h is not None and getattr(h, "connected", False)]


def _ask_each(hosts: list[Any], checked: CheckedInventory) -> Answers:
    import gevent  # noqa: PLC0415 - pyinfra's engine, only where hosts are reached

    answers: Answers = {}

    def one(host: Any) -> None:
        try:
            answers[host.name] = ask(host, checked)
        except Exception as exc:  # this host's deploy raises it, as if it had asked itself
            answers[host.name] = exc

    gevent.joinall([gevent.spawn(one, h) for h in hosts])
    return answers


def ask_all(inventory: Any, checked: CheckedInventory, selected: tuple[str, ...]) -> Answers:
    """Every selected, connected host's answer (or its own error), asked at once."""
    return _ask_each(_connected(inventory, selected), checked)


class Pending:
    """Node states being asked in the background (``start``); ``answers()`` waits for them."""

    def __init__(self, greenlet: Any):
        self._greenlet = greenlet

    def answers(self) -> Answers:
        return self._greenlet.get()

    def cancel(self) -> None:
        self._greenlet.kill(block=False)


def start(inventory: Any, checked: CheckedInventory, selected: tuple[str, ...]) -> Pending | None:
    """Start asking every selected, connected host now (None when none is connected yet)."""
    hosts = _connected(inventory, selected)
    if not hosts:
        return None
    import gevent  # noqa: PLC0415

    return Pending(gevent.spawn(_ask_each, hosts, checked))
