"""pyinfra runs in the command's process (fleet/pyinfrarun.py), without root or SSH: a new State
keeps the hosts' live connections (the store's), and a deploy file runs as `pyinfra -y` runs it
(its results table, exit 0 or 1, its error line), leaving connected what was connected before."""

from __future__ import annotations

import pytest

from sentinelcam_models.fleet import pyinfrarun
from sentinelcam_models.fleet.preflight import Given

GIVEN = Given(None, None, False)  # type: ignore[arg-type] # these deploy files ask no pre-flight


def inventory(*names: str, **data):
    from pyinfra.api import Inventory  # noqa: PLC0415

    return Inventory((list(names), {"fake_delay": 0, "fake_delay_jitter": 0, **data}))


def test_a_new_state_keeps_the_connection_of_a_connected_host():
    from pyinfra.api import Config, State  # noqa: PLC0415

    hosts = inventory("@fake/store", "@fake/node")
    first = State(hosts, Config())
    store, node = hosts.get_host("@fake/store"), hosts.get_host("@fake/node")
    store.connect()
    live, other = store.connector, node.connector
    second = pyinfrarun.new_state(hosts, Config(), [node])
    assert store.connector is live and store.connector.state is second and store.connected
    assert node.connector is not other  # pyinfra's own re-creation, for hosts not connected
    assert second is not first


def run(tmp_path, capsys, body: str, hosts, limit: list[str]) -> tuple[int, str]:
    deploy = tmp_path / f"deploy{len(list(tmp_path.glob('deploy*.py')))}.py"  # pyinfra caches
    deploy.write_text(body)  # a deploy file's code by its name
    code = pyinfrarun.run_deploy_file(hosts, deploy, limit, tmp_path, GIVEN)
    return code, capsys.readouterr().err


def test_a_deploy_runs_as_pyinfra_prints_it(tmp_path, capsys):
    from pyinfra.connectors.fake import FakeConnector  # noqa: PLC0415

    hosts = inventory("@fake/a", "@fake/b", "@fake/store")
    code, err = run(
        tmp_path,
        capsys,
        "from pyinfra.operations import server\nserver.shell(name='Say hi', commands=['true'])\n",
        hosts,
        ["@fake/a"],
    )
    assert code == 0, err
    for line in ("--> Connecting to hosts...", "--> Beginning operation run...", "--> Results:"):
        assert line in err
    results = err.split("--> Results:")[1]
    assert "Say hi" in results and "Grand total" in results
    connector = hosts.get_host("@fake/a").connector
    assert isinstance(connector, FakeConnector) and connector.executed_commands
    assert not hosts.get_host("@fake/b").connected  # outside the limit: not reached


def test_a_failed_host_is_exit_1_and_a_refusal_one_pyinfra_error_line(tmp_path, capsys):
    hosts = inventory("@fake/a", fake_responses={"false": {"success": False}})
    body = "from pyinfra.operations import server\nserver.shell(name='Fail', commands=['false'])\n"
    code, err = run(tmp_path, capsys, body, hosts, ["@fake/a"])
    assert code == 1, err
    refused = (
        "from pyinfra.api.exceptions import PyinfraError\n"
        "raise PyinfraError('deploy refused, nothing was changed')\n"
    )
    code, err = run(tmp_path, capsys, refused, inventory("@fake/a"), ["@fake/a"])
    assert code == 1
    assert "pyinfra error" in err and "deploy refused, nothing was changed" in err


def test_the_store_connection_survives_the_run_and_the_others_are_closed(tmp_path, capsys):
    from pyinfra.api import Config, State  # noqa: PLC0415

    hosts = inventory("@fake/store", "@fake/a")
    State(hosts, Config())
    store = hosts.get_host("@fake/store")
    store.connect()
    live = store.connector
    body = "from pyinfra.operations import server\nserver.shell(commands=['true'])\n"
    code, err = run(tmp_path, capsys, body, hosts, ["@fake/a", "@fake/store"])
    assert code == 0, err
    assert store.connected and store.connector is live
    assert not hosts.get_host("@fake/a").connected


def test_a_second_run_on_the_same_inventory_runs_its_own_operations(tmp_path, capsys):
    """A staged rollout deploys several times in one command, on the inventory loaded once."""
    hosts = inventory("@fake/a", "@fake/b")
    for name, limit, lines in (("First", ["@fake/a"], 1), ("Second", ["@fake/a", "@fake/b"], 3)):
        shell = f"server.shell(name={name!r}, commands=['true'])\n"  # at another line: another op
        body = "from pyinfra.operations import server" + "\n" * lines + shell
        code, err = run(tmp_path, capsys, body, hosts, limit)
        assert code == 0, err
        results = err.split("--> Results:")[1]
        assert name in results and ("First" not in results or name == "First")


def test_the_run_restores_pyinfra_api_mode(tmp_path, capsys):
    import pyinfra  # noqa: PLC0415

    before = pyinfra.is_cli
    run(tmp_path, capsys, "raise RuntimeError('a bug')\n", inventory("@fake/a"), ["@fake/a"])
    assert pyinfra.is_cli == before


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("PYINFRA_PROGRESS", "off")


ONCE = """
import sys, tempfile
from pathlib import Path
from sentinelcam_models.fleet import session  # as the CLI: before pyinfra's CLI patches threading
from sentinelcam_models.fleet import pyinfrarun
from sentinelcam_models.fleet.preflight import Given
import pyinfra_cli  # patches threading (the command's inventory load does this)
from pyinfra.api import Inventory

deploy = Path(tempfile.mkdtemp()) / "deploy.py"
deploy.write_text(
    "import gevent\\n"
    "from pyinfra import state\\n"
    "from sentinelcam_models.fleet.runcache import once_per_run\\n"
    "once_per_run(state, 'slow', lambda s: gevent.sleep(0.2))  # the pre-flight's network wait\\n"
)
hosts = Inventory((["@fake/a", "@fake/b", "@fake/c"], {"fake_delay": 0, "fake_delay_jitter": 0}))
code = pyinfrarun.run_deploy_file(hosts, deploy, ["@fake/a", "@fake/b", "@fake/c"], deploy.parent,
                                  Given(None, None, False))
print("exit", code)
"""


def test_hosts_wait_for_the_pre_flight_without_blocking_the_process():
    """The pre-flight is built once while the other hosts' greenlets wait: with a thread lock
    made before pyinfra patched threading, the first wait on the network blocked them all."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    proc = subprocess.run(
        [sys.executable, "-c", ONCE],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYINFRA_PROGRESS": "off", "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout.strip().splitlines()[-1:] == ["exit 0"], proc.stdout + proc.stderr
