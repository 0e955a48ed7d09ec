"""Custom pyinfra facts for sentinelcam-models (usable as ``facts.models.InstalledModels`` on the CLI)."""
