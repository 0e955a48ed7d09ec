"""The ``sentinelcam-models`` command: each command parses its arguments, calls the core, the store
or the fleet glue, and renders the result.

Exit codes: 0 ok, 1 a check failed, 2 bad input or configuration, 3 declined at a confirmation.
"""

from __future__ import annotations

import click

from .commands import changes, coral, drift, faces, inventory, rollout, store
from .errors import Cli


@click.group(cls=Cli)
def main() -> None:
    """Model registry and model deployment for a SentinelCam fleet."""


for command in (
    inventory.validate,
    store.init_store,
    store.publish,
    store.verify,
    store.list_,
    store.adopt,
    store.cleanup,
    drift.drift,
    changes.rollback,
    changes.promote,
    changes.pin,
    changes.unpin,
    changes.history,
    coral.coral,
    faces.faces,
    rollout.rollout,
):
    main.add_command(command)
