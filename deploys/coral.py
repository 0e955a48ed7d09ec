"""
Bring the Coral EdgeTPU runtime on coral hosts to the registry's versions (coral_packages).

    pyinfra -y inventories/production.py deploys/coral.py
    pyinfra -y inventories/production.py deploys/coral.py --limit sentinels

Hosts with ``sentinel_accelerator_type: coral`` (sentinels) or ``imagenode_accelerator_type: coral``
(outposts) get the udev rule, the libedgetpu deb and the tflite_runtime/pycoral wheels in the
service's virtualenv, each only when its installed version differs; the services restart only
when something was installed for them. Other hosts get nothing. deploys/models.py runs the same
step on a full deploy.
"""

from operations import coral

coral.runtime()
