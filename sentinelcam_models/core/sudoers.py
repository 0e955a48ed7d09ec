"""The least-privilege sudoers file deploys/sudoers.py installs: exactly the commands the deploys
run as root, each named with its arguments, plus node work as the service user.

Why each rule exists:
- the login account runs node work as the service user (pulls, configs, pruning, probes), so files
  end owned by it: ``(service user) ALL`` when the two accounts differ;
- restarting the SentinelCam service a host runs, after its config, face list or Coral runtime changed;
- Coral hosts: the root helper that installs a verified root-owned copy of the libedgetpu deb, the
  udev rule (``tee`` of that one path) and the two udevadm calls that reload it;
- the primary datasink: the retention cleanup's two unit files (``tee`` of those paths), a systemd
  reload and enabling the timer.
"""

from __future__ import annotations

from .coral import UDEV_RULE_PATH, coral_roles
from .settings import HostSettings

SUDOERS_PATH = "/etc/sudoers.d/sentinelcam-models"
DEB_HELPER = "/usr/local/sbin/sentinelcam-coral-deb"
CLEANUP_UNIT = "sentinelcam-model-cleanup"


def root_commands(settings: HostSettings) -> list[str]:
    commands = [
        f"/usr/bin/systemctl restart {service}.service" for service in settings.roles.services
    ]
    if coral_roles(settings):
        commands += [
            DEB_HELPER,
            f"/usr/bin/tee {UDEV_RULE_PATH}",
            "/usr/bin/udevadm control --reload-rules",
            "/usr/bin/udevadm trigger --action=add --subsystem-match=usb",
        ]
    if settings.roles.primary:
        commands += [
            f"/usr/bin/tee /etc/systemd/system/{CLEANUP_UNIT}.service",
            f"/usr/bin/tee /etc/systemd/system/{CLEANUP_UNIT}.timer",
            "/usr/bin/systemctl daemon-reload",
            f"/usr/bin/systemctl enable --now {CLEANUP_UNIT}.timer",
        ]
    return commands


def sudoers_text(settings: HostSettings, login: str) -> str:
    lines = [
        "# Managed by sentinelcam-models (deploys/sudoers.py): exactly what its deploys need.",
        "# Edits are replaced on the next run; see the README's section on sudo.",
    ]
    if login != settings.user:
        lines.append(f"{login} ALL=({settings.user}) NOPASSWD: ALL")
    for command in root_commands(settings):
        lines.append(f"{login} ALL=(root) NOPASSWD: {command}")
    return "\n".join(lines) + "\n"
