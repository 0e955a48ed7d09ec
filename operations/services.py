"""
Service restarts, run as one exact command so a sudoers rule can name it
(``/usr/bin/systemctl restart sentinel.service``), never ``sh -c`` under sudo.
"""

from __future__ import annotations

from pyinfra.api import operation

from facts.shell import exact
from sentinelcam_models.core.services import SERVICES


@operation(is_idempotent=False)
def restart(service: str):
    """
    Restart a SentinelCam service (call it with ``_if`` so it runs only after a change).

    + service: sentinel, imagenode or datapump

    **Example:**

    .. code:: python

        services.restart(service="imagenode", _sudo=True, _if=any_changed(config_op))
    """
    if service not in SERVICES:
        raise ValueError(f"not a SentinelCam service: {service!r}")
    yield exact("systemctl", "restart", f"{service}.service")


@operation(is_idempotent=False)
def daemon_reload():
    """``systemctl daemon-reload`` (call it with ``_if`` after unit files changed)."""
    yield exact("systemctl", "daemon-reload")


@operation()
def enable_now(unit: str):
    """
    ``systemctl enable --now UNIT``: one exact command a sudoers rule can name.

    + unit: e.g. ``sentinelcam-model-cleanup.timer``
    """
    yield exact("systemctl", "enable", "--now", unit)
