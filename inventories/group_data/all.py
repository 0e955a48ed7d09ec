"""Data for every host: where the registry is, and the defaults of the original's variables.

The defaults live in sentinelcam_models/core/settings.py; they are restated here for operators to
read (a test checks that both agree). Host data in an inventory overrides any of them. Paths derive
from sentinelcam_user unless set (e.g. sentinelcam_data_path = /home/{sentinelcam_user}/sentinelcam,
sentinel_models_path = {sentinel_install_path}/models): see settings.DERIVED.
"""

from pathlib import Path as _Path

model_registry_file = str(_Path(__file__).resolve().parent / "model_registry.yaml")

primary_datasink = "data1"
sentinelcam_user = "ops"
sentinelcam_group = "ops"
sentinelcam_model_retention = 5  # store: newest versions kept besides current, previous and pins
node_model_retention = 2  # nodes: other versions kept per model for instant rollback
model_pull_tries = 6
# How many nodes pull from one datasink at once: "auto" follows its sshd (MaxStartups start - 2).
model_pull_concurrency = "auto"
# Host pins {model: "YYYY-MM-DD"}: set per host in host_data/.
model_version_overrides: dict[str, str] = {}

sentinel_accelerator_type = "coral"  # coral | cpu | none | ncs2 (deprecated: works, with a warning)
imagenode_accelerator_type = (
    "none"  # coral | none | ncs2: coral installs the Coral runtime on outposts
)
sentinel_face_detection_model = "ssd_mobilenet"  # ssd_mobilenet | blazeface (coral sentinels)
sentinel_blazeface_variant = "full"  # full | short: a variant the registry lists
face_detection_confidence = {"cpu": 0.5, "ncs2": 0.5, "ssd_mobilenet": 0.5, "blazeface": 0.5}
mobilenet_confidence = 0.5

face_state = "store"  # store | carry: see the README (face files)
model_health_settle = 20  # seconds a restarted service must stay up after a switch
model_health_timeout = 120  # seconds a service may take to come up, and a probe to finish
prune_models = True

# Operator-to-node SSH: never trust a host key on first use (add them to known_hosts beforehand).
ssh_strict_host_key_checking = "yes"
