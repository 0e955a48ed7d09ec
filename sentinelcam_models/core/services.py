"""The SentinelCam services, named once: the systemd units the deploy restarts and gates, in the
fleet-wide order of restarts (sudoers names each ``systemctl restart NAME.service``)."""

from __future__ import annotations

SENTINEL, IMAGENODE, DATAPUMP = "sentinel", "imagenode", "datapump"
SERVICES = (SENTINEL, IMAGENODE, DATAPUMP)
