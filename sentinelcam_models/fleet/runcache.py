"""Once per pyinfra run: build a value (the pre-flight) the first time any host's deploy asks, and
hand the same value (or the same refusal) to every other host.

pyinfra runs a deploy file once per host, concurrently (greenlets). The run's identity is the
``State``; deploy files see it through ``pyinfra.state``, a context proxy, whose real object only
the private ``_get_module()`` returns. This is the one place that uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_values: dict[tuple[int, str], tuple[Any, Any]] = {}
# gevent patches threading: hosts preparing concurrently wait here while the first one builds.
_lock = threading.Lock()


def real_state(state: Any) -> Any:
    """The State behind pyinfra's context proxy (private API, see the module docstring)."""
    get = getattr(state, "_get_module", None)
    return get() if callable(get) else state


def once_per_run(state: Any, name: str, build: Callable[[Any], T]) -> T:
    """``build(state)`` once per run; its result, or the exception it raised, is reused."""
    current = real_state(state)
    key = (id(current), name)
    with _lock:
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
