"""The ``sentinelcam-models`` command: each command parses its arguments, calls the core, the store
or the fleet glue, and renders the result.

Exit codes: 0 ok, 1 a check failed, 2 bad input or configuration, 3 declined at a confirmation.
"""

from __future__ import annotations

import click

from ..paths import REPO_ENV, choose_checkout
from .commands import changes, coral, drift, faces, inventory, rollout, store
from .conventions import (
    HELP_OPTIONS,
    add_examples,
    announce_checkout,
    print_version,
)
from .errors import Cli


@click.group(cls=Cli, context_settings={"help_option_names": HELP_OPTIONS})
@click.option(
    "--repo",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help=f"the checkout to act on (default: ${REPO_ENV}, else the one holding the current "
    "directory, found upwards as git does)",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
    help="print the version, the Python and pyinfra in use, and the checkout; then exit",
)
def main(repo: str | None) -> None:
    """Model registry and model deployment for a SentinelCam fleet.

    Commands act on a checkout of your fleet's configuration (inventories/, with the registry in
    inventories/group_data/model_registry.yaml): --repo DIR, $SENTINELCAM_REPO, or the one you stand
    in. Shell completion (models, hosts, versions): see the README, "Shell completion".
    """
    choose_checkout(repo)
    announce_checkout()


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

add_examples(main)
