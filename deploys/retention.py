"""
Install the weekly model store cleanup on the primary datasink.

    pyinfra -y inventories/production.py deploys/retention.py

The cleanup is the store's own code (the same program every store command runs there), installed
in the service user's data directory; the datasink does not hold the inventory, so what must be
kept (current, previous and pinned versions) is written to a policy file the timer reads. Every
registry change and every model deploy rewrites that file, whatever the --limit. Root is needed
only for the two unit files (``tee`` of those paths), a systemd reload and enabling the timer.
"""

import json

from pyinfra import host, inventory, state
from pyinfra.facts.systemd import SystemdEnabled

from operations import configs, services, system
from sentinelcam_models.core.configs import render
from sentinelcam_models.core.policy import policy_for, policy_path, policy_text
from sentinelcam_models.core.problems import Refused
from sentinelcam_models.core.sudoers import CLEANUP_UNIT
from sentinelcam_models.fleet.inventory import check_pyinfra
from sentinelcam_models.fleet.preflight import refusal
from sentinelcam_models.fleet.remote import as_service
from sentinelcam_models.fleet.runcache import once_per_run
from sentinelcam_models.paths import template_text
from sentinelcam_models.store.bundle import bundle_source

checked = once_per_run(state, "retention", lambda _: check_pyinfra(inventory))
if isinstance(checked, Refused):
    raise refusal([str(p) for p in checked.problems])

if host.name == checked.primary:
    settings = checked.settings[host.name]
    service = as_service(host, settings)
    data = settings.path("sentinelcam_data_path")
    program = f"{data}/bin/sentinelcam-store-agent"
    configs.file(
        name="Cleanup program (the store agent)",
        dest=program,
        content=bundle_source(),
        **service,
    )
    configs.file(
        name="Retention policy (current, previous and pinned versions)",
        dest=policy_path(checked),
        content=policy_text(policy_for(checked)),
        **service,
    )
    arguments = json.dumps(
        {
            "store": settings.path("sentinelcam_model_registry"),
            "policy_file": policy_path(checked),
            "log_file": f"{data}/logs/model_cleanup.log",
        },
        sort_keys=True,
    )
    configs.file(name="Cleanup log directory", dest=f"{data}/logs/.keep", content="", **service)
    unit = system.file(
        name="Cleanup service unit",
        path=f"/etc/systemd/system/{CLEANUP_UNIT}.service",
        content=render(
            template_text(f"retention/{CLEANUP_UNIT}.service.j2"),
            {
                "service_user": settings.user,
                "service_group": settings.group,
                "program": program,
                "arguments": arguments,
            },
        ),
        _sudo=True,
    )
    timer = system.file(
        name="Cleanup timer unit",
        path=f"/etc/systemd/system/{CLEANUP_UNIT}.timer",
        content=template_text(f"retention/{CLEANUP_UNIT}.timer.j2"),
        _sudo=True,
    )
    services.daemon_reload(
        name="Reload systemd (units changed)",
        _sudo=True,
        _if=lambda: unit.did_change() or timer.did_change(),
    )
    enabled = host.get_fact(SystemdEnabled, services=[f"{CLEANUP_UNIT}.timer"]).get(
        f"{CLEANUP_UNIT}.timer"
    )
    if not enabled:
        services.enable_now(
            name="Cleanup timer enabled and started", unit=f"{CLEANUP_UNIT}.timer", _sudo=True
        )
