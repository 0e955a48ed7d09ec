"""The production SentinelCam fleet: the file an operator edits.

Groups are the node roles. Host data here overrides inventories/group_data/*.py; per-host pins
(model_version_overrides) live in inventories/host_data/<host>.yaml, which
`sentinelcam-models pin/unpin` edits and this file loads.
"""

from sentinelcam_models.hostdata import host_data as _host_data


def _host(name, **data):
    """A host tuple with its host_data/<name>.yaml (pins) merged in."""
    return (name, {**data, **_host_data(__file__, name)})


datasinks = [
    _host("data1", ssh_hostname="data1.local"),   # primary datasink: holds the model store
    _host("data2", ssh_hostname="data2.local"),
]

sentinels = [
    _host("sentinel", ssh_hostname="sentinel.local", sentinel_accelerator_type="coral"),
    _host("sentinel2", ssh_hostname="sentinel2.local"),
]

outposts = [
    _host("east", ssh_hostname="east.local"),
    _host("alpha5", ssh_hostname="alpha5.local", outpost_models=["mobilenet_ssd", "mobilenet_ssd_depthai"]),
    _host("lab1", ssh_hostname="lab1.local", imagenode_accelerator_type="coral",
          outpost_models=["mobilenet_ssd", "mobilenet_ssd_edgetpu"]),
]

ml_trainers = [
    _host("deepthink", ssh_hostname="deepthink.local"),
]
