"""pyinfra runs in the command's process (fleet/pyinfrarun.py), without root or SSH: a new State
keeps the hosts' live connections (the store's), and a deploy file runs as `pyinfra -y` runs it
(its results table, exit 0 or 1, its error line), leaving connected what was connected before."""

from __future__ import annotations

import pytest

from sentinelcam_models.fleet import pyinfrarun, pyinfrastate
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
    second = pyinfrastate.new_state(hosts, Config(), [node])
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


def test_an_exception_in_deploy_code_is_pyinfras_lines_exit_1_and_everything_restored(
    tmp_path, capsys
):
    import logging  # noqa: PLC0415

    import pyinfra  # noqa: PLC0415
    from pyinfra.api import output  # noqa: PLC0415

    before = (pyinfra.is_cli, output._format_text, output._echo)
    handlers = list(logging.getLogger("pyinfra").handlers)
    body = "raise RuntimeError('a bug\\x1b[31m here')\n"
    code, err = run(tmp_path, capsys, body, inventory("@fake/a"), ["@fake/a"])
    assert code == 1
    # pyinfra's own report of an exception in a deploy file: the file, its traceback
    assert "--> An exception occurred in: " in err and "deploy" in err
    assert "RuntimeError: a bug" in err and "\x1b[31m" not in err.split("RuntimeError")[1]
    assert (pyinfra.is_cli, output._format_text, output._echo) == before
    assert logging.getLogger("pyinfra").handlers == handlers


def test_a_host_that_cannot_connect_fails_alone_and_all_failing_is_no_hosts_remaining(
    tmp_path, capsys
):
    from pyinfra.connectors.fake import FakeConnector  # noqa: PLC0415

    def refuse(self, *args, **kwargs):
        from pyinfra.api.exceptions import ConnectError  # noqa: PLC0415

        if self.host.name == "@fake/down":
            raise ConnectError("no route to host")

    body = "from pyinfra.operations import server\nserver.shell(name='Hi', commands=['true'])\n"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FakeConnector, "connect", refuse)
        hosts = inventory("@fake/up", "@fake/down")
        code, err = run(tmp_path, capsys, body, hosts, ["@fake/up", "@fake/down"])
        assert code == 1, err
        assert "no route to host" in err and "Grand total" in err
        assert hosts.get_host("@fake/up").connector.executed_commands
        code, err = run(tmp_path, capsys, body, inventory("@fake/down"), ["@fake/down"])
        assert code == 1
        assert "No hosts remaining!" in err


def test_a_dead_kept_connection_is_made_again(tmp_path, capsys):
    """A connection kept across a rollout's waits may die meanwhile (a NAT idle timeout): the
    next run connects the host again rather than failing on the dead one."""
    from pyinfra.api import Config, State  # noqa: PLC0415

    hosts = inventory("@fake/store")
    State(hosts, Config())
    store = hosts.get_host("@fake/store")
    store.connect()
    dead = store.connector

    class Transport:
        def is_active(self):
            return False

    dead.client = type("Client", (), {"get_transport": lambda self: Transport()})()
    state = pyinfrastate.new_state(hosts, Config(), [store])
    assert store.connector is not dead and not store.connected
    assert store.connector.state is state
    body = "from pyinfra.operations import server\nserver.shell(commands=['true'])\n"
    code, err = run(tmp_path, capsys, body, hosts, ["@fake/store"])
    assert code == 0, err
    assert "[@fake/store] Connected" in err


def test_a_host_the_deploy_code_connected_is_disconnected_after_the_run(tmp_path, capsys):
    """The pre-flight reaches hosts outside --limit (a mirror, a datasink's sshd budget)."""
    hosts = inventory("@fake/a", "@fake/mirror")
    body = (
        "from pyinfra import inventory\n"
        "mirror = inventory.get_host('@fake/mirror')\n"
        "if not mirror.connected:\n"
        "    mirror.connect()\n"
    )
    code, err = run(tmp_path, capsys, body, hosts, ["@fake/a"])
    assert code == 0, err
    assert not hosts.get_host("@fake/mirror").connected
    assert not hosts.get_host("@fake/a").connected


def test_nothing_built_for_a_run_outlives_it(tmp_path, capsys):
    from sentinelcam_models.fleet import runcache  # noqa: PLC0415

    body = (
        "from pyinfra import state\n"
        "from sentinelcam_models.fleet.runcache import once_per_run\n"
        "once_per_run(state, 'pre-flight', lambda s: object())\n"
    )
    before = dict(runcache._values)
    code, err = run(tmp_path, capsys, body, inventory("@fake/a", "@fake/b"), ["@fake/a", "@fake/b"])
    assert code == 0, err
    assert runcache._values == before  # the run's State, its values and errors are let go


def test_the_checkouts_config_py_is_run_as_pyinfras_cli_runs_it(tmp_path, capsys):
    (tmp_path / "config.py").write_text("from pyinfra import config\nconfig.PARALLEL = 7\n")
    body = "import sys\nfrom pyinfra import config\nprint('PARALLEL', config.PARALLEL, file=sys.stderr)\n"
    code, err = run(tmp_path, capsys, body, inventory("@fake/a"), ["@fake/a"])
    assert code == 0, err
    assert "PARALLEL 7" in err


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setenv("PYINFRA_PROGRESS", "off")
    # In-process runs here are on @fake hosts (no thread, no socket): they do not need pytest's
    # process patched for gevent. The refusal itself is tested in a process of its own, below.
    monkeypatch.setattr(pyinfrarun, "gevent_patched", lambda: True)


ONCE = """
import sys, tempfile
from pathlib import Path
from sentinelcam_models.fleet import session  # as the CLI: before pyinfra's CLI patches threading
from sentinelcam_models.fleet import pyinfrarun, pyinfrastate
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
        timeout=20,  # the deadlock hangs: a regression fails in seconds, not minutes
        env={"PYINFRA_PROGRESS": "off", "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdout.strip().splitlines()[-1:] == ["exit 0"], proc.stdout + proc.stderr


STOP = """
import os, signal, tempfile
from pathlib import Path
import pyinfra_cli  # the command's inventory load imports it first
import gevent
from pyinfra.api import Inventory
from sentinelcam_models.fleet import pyinfrarun
from sentinelcam_models.fleet.interrupt import deliver_to_main
from sentinelcam_models.fleet.preflight import Given

# Ctrl-C as a terminal gives it: a test run started in the background inherits SIGINT ignored
# (and deliver_to_main rightly leaves an ignored SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
deliver_to_main()  # as the CLI does
deploy = Path(tempfile.mkdtemp()) / "deploy.py"
deploy.write_text(
    "import gevent\\n"
    "from pyinfra.operations import python\\n"
    "import os, signal\\n"
    "def f():\\n"
    "    print('STARTED', flush=True)\\n"
    "    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the operation runs\\n"
    "    gevent.sleep(0.3)\\n"
    "    print('NOT KILLED', flush=True)\\n"
    "python.call(function=f)\\n"
)
hosts = Inventory((["@fake/a", "@fake/b"], {"fake_delay": 0, "fake_delay_jitter": 0}))
try:
    pyinfrarun.run_deploy_file(hosts, deploy, ["@fake/a", "@fake/b"], deploy.parent,
                               Given(None, None, False))
    print("NO INTERRUPT")
except KeyboardInterrupt:
    print("INTERRUPTED", [h.connected for h in hosts], flush=True)
    gevent.sleep(0.6)  # any greenlet of the run still alive would finish its op meanwhile
print("END")
"""


def test_ctrl_c_stops_the_hosts_operations_and_disconnects_them():
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    proc = subprocess.run(
        [sys.executable, "-c", STOP],
        capture_output=True,
        text=True,
        timeout=20,
        env={"PYINFRA_PROGRESS": "off", "PATH": "/usr/bin:/bin"},
    )
    lines = proc.stdout.splitlines()
    assert "STARTED" in lines and "INTERRUPTED [False, False]" in lines, proc.stdout + proc.stderr
    assert "NOT KILLED" not in lines and lines[-1] == "END", proc.stdout + proc.stderr
    assert "Exiting upon user request!" in proc.stderr


UNPATCHED = """
from pathlib import Path
from pyinfra.api import Inventory  # pyinfra_cli not imported: threading is not gevent's
from sentinelcam_models.fleet import pyinfrarun
from sentinelcam_models.fleet.preflight import Given
try:
    pyinfrarun.run_deploy_file(Inventory((["@fake/a"], {})), Path("x.py"), ["@fake/a"], Path("."),
                               Given(None, None, False))
except RuntimeError as exc:
    print("REFUSED", exc)
"""


def test_a_run_without_pyinfras_gevent_patch_refuses_to_start():
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    proc = subprocess.run(
        [sys.executable, "-c", UNPATCHED], capture_output=True, text=True, timeout=20
    )
    assert proc.stdout.startswith("REFUSED pyinfra's gevent patch is not applied"), (
        proc.stdout + proc.stderr
    )
