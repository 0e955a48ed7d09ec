"""Custom pyinfra operations for sentinelcam-models."""
