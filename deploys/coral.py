"""
Bring the Coral EdgeTPU runtime on Coral hosts to the registry's versions (coral_packages).

    pyinfra -y inventories/production.py deploys/coral.py
    pyinfra -y inventories/production.py deploys/coral.py --limit sentinels

Hosts with ``sentinel_accelerator_type: coral`` (sentinels) or ``imagenode_accelerator_type: coral``
(outposts) get the udev rule, the libedgetpu deb (through the root helper) and the tflite_runtime and
pycoral wheels in the service's virtualenv, each only when its installed version differs; the
services restart only when something was installed for them. Other hosts get nothing. A Coral host
is refused (and only it) when the registry's digests are unset or the store's copies differ.
deploys/models.py runs the same step on a full deploy.
"""

from pyinfra import host, inventory, state
from pyinfra.operations.util import any_changed

from facts.node import NodeState
from operations import services
from operations.notice import refuse
from sentinelcam_models.core.coral import UDEV_RULE_PATH, coral_roles
from sentinelcam_models.core.services import SERVICES
from sentinelcam_models.fleet.preflight import context
from sentinelcam_models.fleet.remote import as_service
from sentinelcam_models.fleet.steps import coral_runtime

ctx = context(state, inventory)
settings = ctx.checked.settings.get(host.name)
roles = coral_roles(settings) if settings and host.name in ctx.selected else ()
if settings is not None and roles and ctx.registry.coral is not None:
    service = as_service(host, settings)
    node = host.get_fact(
        NodeState,
        roots=[],
        configs=[UDEV_RULE_PATH],
        services=[],
        coral_package=ctx.registry.coral.deb_package_name,
        coral_venvs=sorted({r.venv for r in roles}),
        _timeout=NodeState.timeout(),
        **service,
    )
    if node.failure:  # whatever this node answered, it fails this host alone
        refuse(name="Node state refused", reasons=(node.failure,))
    elif host.name in ctx.coral_refused:
        refuse(name="Coral EdgeTPU runtime refused", reasons=(ctx.coral_refused[host.name],))
    else:
        changes = coral_runtime(ctx, settings, node, service)
        for unit in host.loop(SERVICES):
            if changes.get(unit):
                services.restart(
                    name=f"Restart {unit} (Coral runtime installed)",
                    service=unit,
                    _sudo=True,
                    _if=any_changed(*changes[unit]),
                )
