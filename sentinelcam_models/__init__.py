"""sentinelcam-models: model registry and model deployment tooling for a SentinelCam edge fleet.

The package holds the pure core (registry loading, validation, per-host planning, the version
store) and the click CLI. Deploy files, facts and operations for pyinfra live beside it in
``deploys/``, ``facts/`` and ``operations/``.
"""
