"""sentinelcam-models: model registry and model deployment tooling for a SentinelCam edge fleet.

The package holds the pure core (registry loading, validation, per-host planning, the version
store) and the click CLI. Deploy files, facts and operations for pyinfra live beside it in
``deploys/``, ``facts/`` and ``operations/``.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("sentinelcam-models")
except _metadata.PackageNotFoundError:  # run from a tree that was never installed
    __version__ = "0+unknown"
