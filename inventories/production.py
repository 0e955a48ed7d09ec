"""The production SentinelCam fleet: the file an operator edits.

Groups are the node roles. Host data here overrides inventories/group_data/*.py; per-host pins
(model_version_overrides) live in inventories/host_data/<host>.yaml, which `sentinelcam-models
pin/unpin` edits and this file loads. SSH logs in as ``ssh_user`` (set it: pyinfra's default is
your local user name), an account other than the service user ``sentinelcam_user`` (ops): node work
runs as ops through sudo, and deploys/sudoers.py grants ``sentinelcam_login`` exactly that and the
few root commands the deploys need, so a compromised service account gains no root. The operator's
known_hosts must hold every node's key (strict host key checking stays on).
"""

from sentinelcam_models.store.files import host_data as _host_data


def _host(name, **data):
    """A host tuple with its host_data/<name>.yaml (pins) merged in."""
    login = {"ssh_user": "admin", "sentinelcam_login": "admin"}
    return (name, {**login, **data, **_host_data(__file__, name)})


datasinks = [
    _host("data1", ssh_hostname="data1.local"),  # primary datasink: holds the model store
]

sentinels = [
    _host("sentinel", ssh_hostname="sentinel.local", sentinel_accelerator_type="coral"),
]

outposts = [
    _host("lab1", ssh_hostname="lab1.local"),
    _host(
        "alpha5",
        ssh_hostname="alpha5.local",
        outpost_models=["mobilenet_ssd", "mobilenet_ssd_edgetpu"],
    ),
    _host("east", ssh_hostname="east.local", outpost_models=["mobilenet_ssd_depthai"]),
]

ml_trainers = [
    _host("deepthink", ssh_hostname="deepthink.local"),
]
