"""
Roll out the model versions the registry (and host pins) ask for, then the configs that name them.

    pyinfra -y inventories/production.py deploys/models.py
    pyinfra -y inventories/production.py deploys/models.py --limit sentinels --data models=face_recognition

The run's pre-flight is shared by every host; each host's deploy is a function
(sentinelcam_models.fleet.deploy), unit-tested without hosts.
"""

from pyinfra import host, inventory, state

from sentinelcam_models.fleet.deploy import deploy_models
from sentinelcam_models.fleet.preflight import context

deploy_models(host, context(state, inventory))
