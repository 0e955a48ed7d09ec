"""
Install the weekly model store cleanup on the primary datasink.

    pyinfra -y inventories/production.py deploys/retention.py

The datasink does not hold the inventory: the pins (and current/previous versions) the inventory
holds now are written to a policy file beside the store, which the timer's cleanup reads. Every
run of deploys/models.py that includes the primary datasink rewrites that file (rollback, promote,
pin and unpin include it), so the cleanup never removes a version the registry or a pin has since
come to need.
"""

import json
from io import StringIO

from pyinfra import host, inventory
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files, systemd

from sentinelcam_models.deploying import host_info
from sentinelcam_models.registry import REPO_ROOT
from sentinelcam_models.retention import POLICY_FILE, policy_for
from sentinelcam_models.validation import check_inventory

SCRIPT = "/usr/local/lib/sentinelcam/model_cleanup.py"
UNIT = "sentinelcam-model-cleanup"

if host.name == host.data.get("primary_datasink"):
    checked = check_inventory(host.data.get("model_registry_file"), [host_info(h) for h in inventory], "inventory")
    if checked.problems:
        raise PyinfraError("\n".join(["sentinelcam-models: retention deploy refused:"] + [f"  {p}" for p in checked.problems]))
    user = host.data.get("sentinelcam_user")
    group = host.data.get("sentinelcam_group", user)
    data_path = host.data.get("sentinelcam_data_path")
    policy_path = f"{data_path}/{POLICY_FILE}"
    keep = int(host.data.get("sentinelcam_model_retention", 5))
    policy = policy_for(checked.registry, checked.hosts, keep)

    script = files.put(
        name="Cleanup program",
        src=str(REPO_ROOT / "sentinelcam_models" / "retention.py"),
        dest=SCRIPT,
        mode="755",
        _sudo=True,
    )
    policy_file = files.put(
        name="Retention policy (pins from the inventory)",
        src=StringIO(json.dumps(policy, indent=2, sort_keys=True) + "\n"),
        dest=policy_path,
        user=user,
        group=group,
        mode="644",
    )
    files.directory(name="Cleanup log directory", path=f"{data_path}/logs", user=user, group=group)
    values = dict(service_user=user, service_group=group, script=SCRIPT, store=host.data.get("sentinelcam_model_registry"),
                  policy=policy_path, log=f"{data_path}/logs/model_cleanup.log")
    unit = files.template(
        name="Cleanup service unit",
        src=str(REPO_ROOT / "templates" / "retention" / f"{UNIT}.service.j2"),
        dest=f"/etc/systemd/system/{UNIT}.service",
        _sudo=True,
        **values,
    )
    timer = files.template(
        name="Cleanup timer unit",
        src=str(REPO_ROOT / "templates" / "retention" / f"{UNIT}.timer.j2"),
        dest=f"/etc/systemd/system/{UNIT}.timer",
        _sudo=True,
    )
    systemd.daemon_reload(name="Reload systemd (units changed)", _sudo=True, _if=lambda: unit.did_change() or timer.did_change())
    systemd.service(name="Cleanup timer enabled and running", service=f"{UNIT}.timer", running=True, enabled=True, _sudo=True)
