"""pyinfra runs inside the command's process, on the inventory the command loaded once.

``run_deploy_file``: what ``pyinfra -y INVENTORY DEPLOY --limit H...`` does (the checkout's
``config.py`` included), with pyinfra's own steps and output (its log lines, the results table,
its error lines, exit 0 or 1), but on that inventory, with the pre-flight given what the command
holds (fleet/preflight.Given): no second inventory load, no second connection to the store. The
State is made by fleet/pyinfrastate.new_state (live connections kept, dead ones made again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.problems import one_line
from .preflight import Given, handed_over
from .pyinfrastate import new_state
from .runcache import forget

STOP_TIMEOUT = 5.0  # seconds the hosts' greenlets get to stop after Ctrl-C
CONFIG_FILE = "config.py"  # pyinfra's config file, run from the deploy's directory as its CLI does


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
    """Run ``deploy`` on ``hosts`` of the loaded ``inventory`` as ``pyinfra -y`` does from ``cwd``;
    its exit code (1 when any host failed or the run was refused). Hosts connected before the run
    (the store's) stay connected; every host the run connected (its targets, and any the deploy
    code reached: mirrors, datasinks) is disconnected after it. On Ctrl-C the run's greenlets are
    killed (the hosts' operations, and what those spawned) and KeyboardInterrupt is raised."""
    if not gevent_patched():  # checked before pyinfra_cli is imported here: a thread lock
        raise RuntimeError(  # taken by one host's greenlet would block every other
            "pyinfra's gevent patch is not applied (import pyinfra_cli before pyinfra.api)"
        )
    import gevent  # noqa: PLC0415
    import pyinfra  # noqa: PLC0415
    from pyinfra import logger  # noqa: PLC0415
    from pyinfra.api import Config, State  # noqa: PLC0415
    from pyinfra.api.connect import connect_all  # noqa: PLC0415
    from pyinfra.api.exceptions import PyinfraError  # noqa: PLC0415
    from pyinfra.api.operations import run_ops  # noqa: PLC0415
    from pyinfra.api.state import StateStage  # noqa: PLC0415
    from pyinfra.context import ctx_config, ctx_inventory, ctx_state  # noqa: PLC0415
    from pyinfra_cli.exceptions import UnexpectedExternalError, WrappedError  # noqa: PLC0415
    from pyinfra_cli.prints import print_results  # noqa: PLC0415
    from pyinfra_cli.util import exec_file, load_deploy_file  # noqa: PLC0415

    connected = {host for host in inventory if host.connected}
    limit = [inventory.get_host(name) for name in hosts]
    was_cli = pyinfra.is_cli
    pyinfra.is_cli = True  # deploy files run as under pyinfra's CLI (operation order, prompts)
    state = None
    with _cli_output():
        try:
            config = Config()
            logger.info("--> Loading config...")
            config_file = Path(cwd) / CONFIG_FILE
            if config_file.exists():  # as pyinfra's CLI does (_set_config): the checkout's tuning
                with ctx_state.use(State()), ctx_config.use(config):
                    exec_file(str(config_file))
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
        except UnexpectedExternalError as exc:  # an exception in deploy or config code: pyinfra's
            exc.show()  # own lines (the file, the line, the traceback)
            return 1
        except PyinfraError as exc:
            WrappedError(exc).show()
            return 1
        except KeyboardInterrupt:
            if state is not None:
                _stop(state)
            logger.info("Exiting upon user request!")
            raise
        except Exception as exc:  # a bug around the run: one line (the traceback with
            logger.warning(  # SENTINELCAM_DEBUG set)
                f"--> An internal exception occurred: {type(exc).__name__}: {one_line(str(exc))}"
            )
            _debug_traceback()
            return 1
        finally:
            pyinfra.is_cli = was_cli
            if state is not None:
                forget(state)
                ours = [h for h in inventory if h.connected and h not in connected]
                if ours:
                    logger.info("--> Disconnecting from hosts...")
                    gevent.joinall([gevent.spawn(_disconnect, host) for host in ours])


def gevent_patched() -> bool:
    """Has pyinfra's CLI patched the standard library for gevent (threads are greenlets)? The
    command's inventory load imports pyinfra_cli first (fleet/inventory.load_pyinfra_inventory)."""
    from gevent import monkey  # noqa: PLC0415

    return bool(monkey.is_module_patched("threading"))


def _disconnect(host: Any) -> None:
    try:
        host.disconnect()
    except Exception:
        host.connected = False


def _stop(state: Any) -> None:
    """Kill the run's greenlets: the hosts' (pyinfra's pools) and every greenlet they spawned
    (a python.call body runs in its own, SSH output readers too); wait for them to die."""
    import gc  # noqa: PLC0415

    import gevent  # noqa: PLC0415

    roots = {*state.pool.greenlets, *state.fact_pool.greenlets}

    def spawned_by_run(greenlet: Any) -> bool:
        ref = getattr(greenlet, "spawning_greenlet", None)
        for _ in range(1000):
            parent = ref() if ref is not None else None
            if parent is None:
                return False
            if parent in roots:
                return True
            ref = getattr(parent, "spawning_greenlet", None)
        return False

    tree = [
        g
        for g in gc.get_objects()
        if isinstance(g, gevent.Greenlet) and not g.dead and spawned_by_run(g)
    ]
    gevent.killall([*tree, *roots], block=True, timeout=STOP_TIMEOUT)


def _debug_traceback() -> None:
    import os  # noqa: PLC0415
    import traceback  # noqa: PLC0415

    if os.environ.get("SENTINELCAM_DEBUG"):
        traceback.print_exc()
