"""sentinelcam-models: model registry and model deployment tooling for a SentinelCam edge fleet.

The package holds the pure core (registry loading, validation, per-host planning, the version
store) and the click CLI. Deploy files, facts and operations for pyinfra live beside it in
``deploys/``, ``facts/`` and ``operations/``.
"""

from __future__ import annotations

from functools import cache as _cache
from typing import TYPE_CHECKING

__all__ = ["version"]


@_cache
def version() -> str:
    """The installed package's version. Looked up when asked: importlib.metadata and the lookup
    took 20 ms of every command's start, and only --version and drift --json print it."""
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version("sentinelcam-models")
    except metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "0+unknown"


if TYPE_CHECKING:  # to type checkers, an attribute like any other; other names stay unknown
    __version__: str
else:

    def __getattr__(name: str) -> str:
        if name == "__version__":  # the usual spelling, for other code
            return version()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
