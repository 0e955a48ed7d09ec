"""
Install the least-privilege sudoers file: exactly the commands the other deploys run as root, each
with its arguments, plus node work as the service user (sentinelcam_models/core/sudoers.py says
which and why). It also installs the root helper that installs the Coral deb on Coral hosts.

Run it once, and after the roles or accelerators of a host change, through an account that has
full sudo today (or root), naming the account the regular deploys log in as:

    pyinfra inventories/production.py deploys/sudoers.py --user pi --sudo --data sentinelcam_login=ops

The file is checked with ``visudo -c`` before it replaces the old one.
"""

from io import StringIO

from pyinfra import host, inventory, state
from pyinfra.operations import files

from facts.shell import body
from operations import system
from sentinelcam_models.core.coral import coral_roles
from sentinelcam_models.core.problems import Refused
from sentinelcam_models.core.sudoers import DEB_HELPER, SUDOERS_PATH, sudoers_text
from sentinelcam_models.fleet.inventory import check_pyinfra
from sentinelcam_models.fleet.preflight import refusal
from sentinelcam_models.fleet.runcache import once_per_run

checked = once_per_run(state, "sudoers", lambda _: check_pyinfra(inventory))
if isinstance(checked, Refused):
    raise refusal([str(p) for p in checked.problems])
settings = checked.settings[host.name]
login = settings.deploy_login
if not login or login == "root":
    raise refusal(
        [
            f"host {host.name}: sentinelcam_login is not set: name the account the regular deploys "
            "log in as (--data sentinelcam_login=ops)"
        ]
    )

if coral_roles(settings):
    files.put(
        name=f"Root helper {DEB_HELPER}",
        src=StringIO(body("sentinelcam-coral-deb")),
        dest=DEB_HELPER,
        user="root",
        group="root",
        mode="755",
        _sudo=True,
    )

system.sudoers(
    name=f"Least-privilege sudoers rules ({SUDOERS_PATH})",
    path=SUDOERS_PATH,
    content=sudoers_text(settings, login),
    _sudo=True,
)
