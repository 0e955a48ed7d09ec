"""Shared fixtures. The `fleet` fixtures drive devfleet (systemd-nspawn nodes, needs root).

Importing this file needs neither root nor a running fleet, so `pytest -m 'not fleet'` runs anywhere.

    def test_something(fleet):                 # session: the fleet is up, reused across modules
        fleet.ssh("data1", "hostname").stdout  # real SSH as ops, strict host key checking

    def test_other(fresh_fleet):               # the same fleet, reset to pristine once for this module
        ...
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import gevent
import pytest

from devfleet import fleet as fleet_mod
from devfleet.client import Fleet
from sentinelcam_models.fleet.inventory import patch_for_gevent
from tests.support.fleet import run_fleet

_HUB_WATCHERS: list = []
_PYTHON3_DIR: list[str] = []


def pytest_configure(config):
    _python3_on_path_is_this_interpreter()
    if hasattr(config, "workerinput"):  # a pytest-xdist worker (`make test-unit` runs two)
        _patch_for_gevent_before_the_first_test()
        _scan_pyinfras_connectors_once()


def pytest_unconfigure(config):
    for path in _PYTHON3_DIR:
        shutil.rmtree(path, ignore_errors=True)


def _python3_on_path_is_this_interpreter() -> None:
    """The node-side programs the tests run (rrsync, node_state, the probes, the gate) find
    `python3` on PATH, as on a node. Put the interpreter this run uses (without its venv) first:
    where `python3` is a version manager's shim (pyenv: a dozen shell processes per start, 0.1 s)
    the tests then start it directly; where it is that interpreter already, nothing changes."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    found = shutil.which("python3")
    if found is not None and os.path.realpath(found) == base:
        return
    path = tempfile.mkdtemp(prefix="sentinelcam-python3-")
    Path(path, "python3").symlink_to(base)
    _PYTHON3_DIR.append(path)
    os.environ["PATH"] = f"{path}{os.pathsep}{os.environ.get('PATH', '')}"


def _patch_for_gevent_before_the_first_test():
    """Patch the standard library for gevent now, and keep the hub waiting for execnet's thread.

    pyinfra_cli patches the standard library for gevent on import, and our inventory loader imports
    it late: a serial run is patched from its first inventory load on, an xdist worker at whichever
    test loads one first. After that, the worker waits for its next test on a lock that execnet's
    reader thread (a real thread, started before the patch) releases; gevent's hub, having nothing
    of its own to watch, raises LoopExit ("This operation would block forever"). So each worker
    patches before its first test (every test then runs patched, however the tests are shared
    out) and keeps one idle watcher on the hub, which then waits for the reader thread's wake-up.
    Its subprocesses are gevent's, started with the standard library's vfork (tests/support/spawn.py:
    a fork of the worker costs ten times as much CPU).
    """
    patch_for_gevent()  # pyinfra_cli's patch, as every command applies it
    from tests.support import spawn  # noqa: PLC0415 (after the patch it builds on)

    spawn.install()
    watcher = gevent.get_hub().loop.async_()
    watcher.start(lambda: None)
    _HUB_WATCHERS.append(watcher)


def _scan_pyinfras_connectors_once() -> None:
    """pyinfra looks its connectors up in every installed package's entry points two or three
    times per inventory it builds (about 3 ms each in this venv); the unit tests build hundreds.
    The installed packages do not change during a run: scan them once per worker."""
    from pyinfra.api import connectors  # noqa: PLC0415 (after the gevent patch)

    connectors.entry_points = functools.lru_cache(maxsize=None)(connectors.entry_points)


@pytest.fixture(scope="session")
def fleet():
    """The local fleet, up once per run (SENTINELCAM_TEST_NODES nodes, default 6).

    A fleet of that size that is already up and reachable is reused and left running;
    otherwise it is brought up here and taken down at the end of the session.
    """
    if os.geteuid() != 0:
        # A failure, not a skip: a run that skips every fleet test must not look green.
        pytest.fail(
            "the fleet tests need root (systemd-nspawn): run `make test` as root, "
            "or `make test-unit` for the tests that need no root",
            pytrace=False,
        )
    n = int(os.environ.get("SENTINELCAM_TEST_NODES", "6"))
    reused = fleet_mod.is_up(n)
    if not reused:
        run_fleet("up", "--nodes", str(n))
    f = Fleet()
    try:
        yield f
    finally:
        if not reused:
            run_fleet("down")


@pytest.fixture(scope="module")
def fresh_fleet(fleet):
    """The session fleet, reset to a pristine state once for the requesting module."""
    fleet.reset()
    return fleet
