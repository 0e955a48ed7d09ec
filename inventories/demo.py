"""pyinfra inventory of the local systemd-nspawn fleet (`make fleet-up NODES=n`).

Reads the fleet's fleet.json (in $SENTINELCAM_FLEET_DIR, default /var/lib/sentinelcam-fleet) and
defines the groups datasinks, sentinels and outposts. Host data here is SSH connection data only;
everything else comes from inventories/group_data/.

    pyinfra -y inventories/demo.py exec -- hostname
"""
import json as _json
import os as _os

from sentinelcam_models.hostdata import host_data as _host_data

_STATE_DIR = _os.environ.get("SENTINELCAM_FLEET_DIR") or "/var/lib/sentinelcam-fleet"
_FLEET_JSON = _os.path.join(_STATE_DIR, "fleet.json")

try:
    with open(_FLEET_JSON, encoding="utf-8") as _f:
        _fleet = _json.load(_f)
except FileNotFoundError:
    raise RuntimeError(f"local fleet is not up: run `make fleet-up` (no {_FLEET_JSON})") from None


def _group(_name):
    return [
        (
            _node["name"],
            {
                "ssh_hostname": _node["address"],
                "ssh_user": _fleet["ssh_user"],
                "ssh_key": _fleet["ssh_key"],
                "ssh_known_hosts_file": _fleet["known_hosts"],
                "ssh_strict_host_key_checking": "yes",
                **_host_data(__file__, _node["name"]),
            },
        )
        for _node in _fleet["nodes"]
        if _name in _node["groups"]
    ]


datasinks = _group("datasinks")
sentinels = _group("sentinels")
outposts = _group("outposts")
