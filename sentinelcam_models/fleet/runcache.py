"""Once per pyinfra run: build a value (the pre-flight) the first time any host's deploy asks, and
hand the same value (or the same refusal) to every other host.

pyinfra runs a deploy file once per host, concurrently (greenlets). The run's identity is the
``State``; deploy files see it through ``pyinfra.state``, a context proxy, whose real object only
the private ``_get_module()`` returns. This is the one place that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_values: dict[tuple[int, str], tuple[Any, Any]] = {}
_lock: Any = None


def _run_lock() -> Any:
    """Hosts preparing concurrently (pyinfra's greenlets) wait here while the first one builds.
    A gevent lock, whatever was imported first: a real thread lock, taken by a greenlet that then
    waits for the network, would block every greenlet of the process (a command that imported
    this module before pyinfra's CLI patched threading, and runs the deploy in-process)."""
    global _lock
    if _lock is None:
        from gevent.lock import Semaphore  # noqa: PLC0415 - pyinfra's engine

        _lock = Semaphore()
    return _lock


def real_state(state: Any) -> Any:
    """The State behind pyinfra's context proxy (private API, see the module docstring)."""
    get = getattr(state, "_get_module", None)
    return get() if callable(get) else state


def once_per_run(state: Any, name: str, build: Callable[[Any], T]) -> T:
    """``build(state)`` once per run; its result, or the exception it raised, is reused."""
    current = real_state(state)
    key = (id(current), name)
    with _run_lock():
        cached = _values.get(key)
        if cached is not None and cached[0] is current:
            kind, value = cached[1]
            if kind == "error":
                raise value
            return value
        try:
            result = build(current)
        except Exception as exc:
            _values[key] = (current, ("error", exc))
            raise
        _values[key] = (current, ("ok", result))
        return result


def forget(state: Any) -> None:
    """Drop what was built for the run of ``state`` (its end: nothing of it stays alive)."""
    current = real_state(state)
    for key in [key for key, (owner, _) in _values.items() if owner is current]:
        del _values[key]
