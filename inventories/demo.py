"""pyinfra inventory of the local systemd-nspawn fleet (`make fleet-up NODES=n`).

Reads the fleet's fleet.json (in $SENTINELCAM_FLEET_DIR, default /var/lib/sentinelcam-fleet) and
defines the groups datasinks, sentinels and outposts. Each node logs in as the account devfleet
gave it (ops, or admin: another account than the service user), with strict host key checking.
The demo nodes have no accelerator: sentinels run on the CPU; east has an OAK camera, alpha5 a
Coral camera (imagenode.yaml), as their outpost_models say.

    pyinfra -y inventories/demo.py exec -- hostname
"""

import json as _json
import os as _os

from sentinelcam_models.store.files import host_data as _host_data
from sentinelcam_models.store.files import host_settings as _host_settings

_STATE_DIR = _os.environ.get("SENTINELCAM_FLEET_DIR") or "/var/lib/sentinelcam-fleet"
_FLEET_JSON = _os.path.join(_STATE_DIR, "fleet.json")

try:
    with open(_FLEET_JSON, encoding="utf-8") as _f:
        _fleet = _json.load(_f)
except FileNotFoundError:
    raise RuntimeError(f"local fleet is not up: run `make fleet-up` (no {_FLEET_JSON})") from None

_ROLE_DATA: dict[str, dict] = {
    "sentinels": {"sentinel_accelerator_type": "cpu"},
    "east": {"outpost_models": ["mobilenet_ssd_depthai"]},
    "alpha5": {"outpost_models": ["mobilenet_ssd", "mobilenet_ssd_edgetpu"]},
}


def _group(_name):
    return [
        (
            _node["name"],
            {
                "ssh_hostname": _node["address"],
                "ssh_user": _node.get("login", _fleet["ssh_user"]),
                # The account deploys log in as, which deploys/sudoers.py grants (its own run logs in as root).
                "sentinelcam_login": _node.get("login", _fleet["ssh_user"]),
                "ssh_key": _fleet["ssh_key"],
                "ssh_known_hosts_file": _fleet["known_hosts"],
                "ssh_strict_host_key_checking": "yes",
                **_ROLE_DATA.get(_name, {}),
                **_ROLE_DATA.get(_node["name"], {}),
                **_node.get("data", {}),  # devfleet up --as-original: outpost7's outpost_models
                **_host_settings(__file__, _node["name"]),  # the fleet tests' per-host settings
                **_host_data(__file__, _node["name"]),
            },
        )
        for _node in _fleet["nodes"]
        if _name in _node["groups"]
    ]


datasinks = _group("datasinks")
sentinels = _group("sentinels")
outposts = _group("outposts")
