"""Data for every host: the registry and the defaults of the original's variables.

Host data in an inventory overrides any of these, as pyinfra does. The registry itself is read from
model_registry.yaml beside this file; deploys and `sentinelcam-models validate` re-read it strictly.
"""

from pathlib import Path as _Path

import yaml as _yaml

model_registry_file = str(_Path(__file__).resolve().parent / "model_registry.yaml")
with open(model_registry_file, encoding="utf-8") as _f:
    _registry = _yaml.safe_load(_f) or {}

sentinelcam_models = _registry.get("sentinelcam_models") or {}
coral_packages = _registry.get("coral_packages") or {}

primary_datasink = "data1"
sentinelcam_user = "ops"
sentinelcam_group = "ops"
sentinelcam_data_path = "/home/ops/sentinelcam"
sentinelcam_model_registry = "/home/ops/sentinelcam/model_registry"
sentinelcam_model_retention = 5
node_model_retention = 2
# At most this many nodes pull from the primary datasink at once (its sshd drops connections past
# MaxStartups); pulls that are dropped anyway retry with jittered backoff.
model_pull_concurrency = 10

sentinel_models_path = "/home/ops/sentinel/models"
imagenode_models_path = "/home/ops/imagenode/models"

# Host pins: {model: "YYYY-MM-DD"}; set per host (see inventories/host_data/).
model_version_overrides = {}

sentinel_accelerator_type = "none"    # coral | none  (ncs2 is deprecated)
imagenode_accelerator_type = "none"   # coral | none
sentinel_face_detector = "ssd_mobilenet"   # ssd_mobilenet | blazeface
sentinel_blazeface_variant = "short_range"  # a key of face_detection_blazeface.variants

# Where the services read their configs (the original's *_config_path variables).
sentinel_config_path = "/home/ops/sentinel.yaml"
sentinel_tasks_path = "/home/ops/sentinel/tasks"
imagenode_config_path = "/home/ops/imagenode.yaml"
datapump_config_path = "/home/ops/datapump.yaml"
sentinel_venv_path = "/home/ops/.virtualenvs/py3cv4"
imagenode_venv_path = "/home/ops/.virtualenvs/py3cv4"
# Where coral hosts stage the Coral packages pulled from the store (verified there, then installed).
coral_staging_path = "/home/ops/sentinelcam/coral_packages"
