"""pyinfra runs inside the command's process, on the inventory the command loaded once.

``new_state``: a pyinfra State over an inventory whose hosts may hold live connections (the store's):
``State.init`` re-creates every host's connector, which would cut them; they are carried over.

``run_deploy_file``: what ``pyinfra -y INVENTORY DEPLOY --limit H...`` does, with pyinfra's own
steps and output (its log lines, the results table, its error lines, exit 0 or 1), but on that
inventory, with the pre-flight given what the command holds (fleet/preflight.Given): no second
inventory load, no second connection to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.problems import one_line
from .preflight import Given, handed_over


def new_state(inventory: Any, config: Any, initial_limit: list | None = None, **kwargs: Any) -> Any:
    """``State(...).init(inventory, config, initial_limit)`` for a new run on an inventory used
    before: every connected host keeps its connection (pyinfra would replace its connector by a
    new, unconnected one) and no host keeps the operations of an earlier run."""
    from pyinfra.api import State  # noqa: PLC0415 - pyinfra only where hosts are reached

    live = {host: host.connector for host in inventory if host.connected}
    for host in inventory:  # a Host keeps the order of the last run's operations: a new run
        host.op_hash_order = []  # starts with none (else its order names operations it has not)
        host.loop_position = []
    state = State(**kwargs)
    state.init(inventory, config, initial_limit=initial_limit)
    for host, connector in live.items():
        connector.state = state
        host.connector = connector
    return state


@contextmanager
def _cli_output() -> Iterator[None]:
    """pyinfra's CLI output for the run's duration: its log lines on stderr, styled as it styles
    them (the command's own quiet handler stays; it drops nothing pyinfra's handler prints)."""
    import click  # noqa: PLC0415
    from pyinfra.api import output  # noqa: PLC0415
    from pyinfra_cli.log import LogFormatter, LogHandler  # noqa: PLC0415

    logger = logging.getLogger("pyinfra")
    handler = LogHandler()
    handler.setFormatter(LogFormatter())
    level = logger.level
    saved = (output._format_text, output._echo)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    output.set_formatter(click.style)
    output.set_echo(click.echo)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        output._format_text, output._echo = saved


def run_deploy_file(inventory: Any, deploy: Path, hosts: list[str], cwd: Path, given: Given) -> int:
    """Run ``deploy`` on ``hosts`` of the loaded ``inventory`` as ``pyinfra -y`` does; its exit
    code (1 when any host failed or the run was refused). Hosts connected before the run (the
    store's) stay connected; the others are disconnected after it."""
    import gevent  # noqa: PLC0415
    import pyinfra  # noqa: PLC0415
    from pyinfra import logger  # noqa: PLC0415
    from pyinfra.api import Config  # noqa: PLC0415
    from pyinfra.api.connect import connect_all  # noqa: PLC0415
    from pyinfra.api.exceptions import PyinfraError  # noqa: PLC0415
    from pyinfra.api.operations import run_ops  # noqa: PLC0415
    from pyinfra.api.state import StateStage  # noqa: PLC0415
    from pyinfra.context import ctx_config, ctx_inventory, ctx_state  # noqa: PLC0415
    from pyinfra_cli.exceptions import (  # noqa: PLC0415
        UnexpectedExternalError,
        UnexpectedInternalError,
        WrappedError,
    )
    from pyinfra_cli.prints import print_results  # noqa: PLC0415
    from pyinfra_cli.util import load_deploy_file  # noqa: PLC0415

    connected = {host for host in inventory if host.connected}
    limit = [inventory.get_host(name) for name in hosts]
    was_cli = pyinfra.is_cli
    pyinfra.is_cli = True  # deploy files run as under pyinfra's CLI (operation order, prompts)
    state = None
    with _cli_output():
        try:
            config = Config()
            logger.info("--> Loading config...")
            config.lock_current_state()
            state = new_state(inventory, config, limit, check_for_changes=False)
            state.cwd = str(cwd)
            with ctx_state.use(state), ctx_config.use(config), ctx_inventory.use(inventory):
                logger.info("--> Connecting to hosts...")
                state.set_stage(StateStage.Connect)
                connect_all(state)
                state.set_stage(StateStage.Prepare)
                logger.info("--> Preparing operation files...")
                with handed_over(state, given):
                    logger.info(f"Loading: {deploy}")
                    state.current_op_file_number = 0
                    load_deploy_file(state, str(deploy))
                    config.reset_locked_state()
                logger.info("--> Skipping change detection")
                logger.info("--> Beginning operation run...")
                state.set_stage(StateStage.Execute)
                run_ops(state)
                logger.info("--> Results:")
                state.set_stage(StateStage.Disconnect)
                print_results(state)
                return 1 if state.failed_hosts else 0
        except (UnexpectedExternalError, UnexpectedInternalError) as exc:  # pyinfra's own lines
            exc.show()
            return 1
        except PyinfraError as exc:
            WrappedError(exc).show()
            return 1
        except KeyboardInterrupt:
            if state is not None:
                state.pool.kill(block=False)  # the hosts' greenlets stop with the command
                state.fact_pool.kill(block=False)
            logger.info("Exiting upon user request!")
            raise
        except Exception as exc:  # a bug in the deploy: this run's failure, in one line
            logger.warning(
                f"--> An internal exception occurred: {type(exc).__name__}: {one_line(str(exc))}"
            )
            return 1
        finally:
            pyinfra.is_cli = was_cli
            if state is not None and getattr(state, "initialised", False):
                logger.info("--> Disconnecting from hosts...")
                gevent.joinall(
                    [
                        gevent.spawn(host.disconnect)
                        for host in state.activated_hosts
                        if host not in connected
                    ]
                )
