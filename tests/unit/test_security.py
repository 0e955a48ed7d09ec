"""Security findings of issue 23, each reproduced: paths that once ran code, answers that once
stopped the whole fleet, files that once changed under the tool."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pyinfra.api import Inventory

from sentinelcam_models.fleet.remote import RemoteStore

# --- 23.1: a published directory's name never reaches a shell -------------------------------


def fake_rsync(bin_dir: Path, log: Path) -> None:
    bin_dir.mkdir(exist_ok=True)
    rsync = bin_dir / "rsync"
    rsync.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {log}\n')
    rsync.chmod(0o755)


@pytest.mark.parametrize(
    "name", ["x;touch PWNED;", "with space", "$(touch PWNED)", "-rf", "a'b\"c"]
)
def test_a_remote_publish_passes_the_directory_to_rsync_as_one_argument(
    tmp_path, monkeypatch, name
):
    from sentinelcam_models.core.settings import HostSettings  # noqa: PLC0415

    bin_dir, log = tmp_path / "bin", tmp_path / "argv"
    fake_rsync(bin_dir, log)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    src = work / name
    src.mkdir()
    inventory = Inventory((["data1"], {}))
    host = inventory.get_host("data1")
    settings = object.__new__(HostSettings)
    remote = object.__new__(RemoteStore)
    remote.host, remote.settings = host, settings
    remote.root, remote.where = "/home/ops/model_registry", "data1:/home/ops/model_registry"
    monkeypatch.setattr(RemoteStore, "connector_args", lambda self: {})
    upload = remote.upload(src)
    assert not list(work.glob("PWNED")) and not list(Path.cwd().glob("PWNED"))
    argv = log.read_text().splitlines()
    assert f"{src}/" in argv  # the whole path, one argument
    assert argv[-1] == f"data1:/home/ops/model_registry/{upload}/"


# --- 23.7: the store agent's answers are parsed as strictly as the registry ----------------------


class Line:
    def __init__(self, line: str, buffer_name: str = "stdout"):
        self.line, self.buffer_name = line, buffer_name


class AgentHost:
    """A datasink whose store agent prints ``answer``."""

    name = "data1"
    connected = True

    def __init__(self, answer: str):
        self.answer = answer

    def run_shell_command(self, command, **kwargs):
        return True, [Line(line) for line in self.answer.split("\n")]


def agent_store(answer: str) -> RemoteStore:
    remote = object.__new__(RemoteStore)
    remote.host = AgentHost(answer)
    remote.settings = type("S", (), {"name": "data1"})()
    remote.root, remote.where = "/home/ops/model_registry", "data1:/home/ops/model_registry"
    remote._args = {}
    return remote


ITEM = "face_recognition/2026-02-02"
HOSTILE_ANSWERS = {
    "digest with a newline": {ITEM: {"digest": "a" * 64 + "\n../../../tmp/x 1", "problems": []}},
    "item not asked about": {"../x/2026-01-01": {"digest": "a" * 64, "problems": []}},
    "problems not text": {ITEM: {"digest": "a" * 64, "problems": [{"x": 1}]}},
    "extra key": {ITEM: {"digest": "a" * 64, "problems": [], "x": 1}},
    "escape in a problem": {ITEM: {"digest": None, "problems": ["\x1b]0;owned\x07"]}},
}


@pytest.mark.parametrize("result", HOSTILE_ANSWERS.values(), ids=HOSTILE_ANSWERS.keys())
def test_a_store_agent_answer_that_is_not_what_check_answers_is_refused(result):
    from sentinelcam_models.core.problems import CheckFailed  # noqa: PLC0415

    store = agent_store(json.dumps({"ok": True, "result": result}))
    with pytest.raises(CheckFailed) as refused:
        store.call("check", wanted=[ITEM], required={})
    message = str(refused.value)
    assert message.startswith("host data1: ") and "\n" not in message and "\x1b" not in message


def test_a_deeply_nested_store_agent_answer_is_one_line_not_a_crash():
    from sentinelcam_models.core.problems import CheckFailed  # noqa: PLC0415

    store = agent_store("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckFailed):
        store.call("coral_files")


class ShellHost(AgentHost):
    """A datasink that runs the store agent's command in a real shell, with ``env``."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def run_shell_command(self, command, **kwargs):
        done = subprocess.run(
            ["sh", "-c", command.get_raw_value()], capture_output=True, text=True, env=self.env
        )
        return done.returncode == 0, [
            *(Line(line) for line in done.stdout.splitlines()),
            *(Line(line, "stderr") for line in done.stderr.splitlines()),
        ]


def test_the_store_agent_ignores_the_datasinks_python_environment(tmp_path):
    # A PYTHONPATH entry comes before the standard library: without -I its json.py would run.
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "json.py").write_text("raise SystemExit('decoy json imported')\n")
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    store = agent_store("")
    store.host = ShellHost({**os.environ, "PYTHONPATH": str(decoy)})
    store.root = str(store_dir)
    assert store.call("versions", model="face_recognition") == []


def test_a_good_store_agent_answer_passes():
    result = {ITEM: {"digest": "a" * 64, "problems": []}}
    store = agent_store(json.dumps({"ok": True, "result": result}))
    assert store.call("check", wanted=[ITEM], required={}) == result


# --- 23.5: rollout state files are parsed as strictly as the registry ----------------------------

GOOD_STATE = {
    "model": "face_recognition",
    "version": "2026-02-02",
    "old_current": "2025-01-01",
    "old_previous": None,
    "canary": ["sentinel1"],
    "waves": [["sentinel2"]],
    "max_failed": 0,
    "stage": "canary",
    "passed": [],
    "failed": {},
    "held": [],
    "steps": [],
}
HOSTILE_STATES = {
    "canary leaves host_data": {"canary": ["../../../../tmp/x"]},
    "old_current with a newline": {"old_current": "x\ny"},
    "old_previous not a version": {"old_previous": "2025-13-01"},
    "held host with a slash": {"held": ["a/b"]},
    "wave host not a string": {"waves": [[1]]},
    "unknown stage": {"stage": "wave-9"},
    "unknown key": {"extra": 1},
    "failed reason not text": {"failed": {"sentinel1": 3}},
    "max_failed a bool": {"max_failed": True},
}


@pytest.mark.parametrize("change", HOSTILE_STATES.values(), ids=HOSTILE_STATES.keys())
def test_a_hostile_rollout_state_is_refused_with_one_line(change):
    from sentinelcam_models.core.problems import BadInput  # noqa: PLC0415
    from sentinelcam_models.core.waves import Rollout  # noqa: PLC0415

    with pytest.raises(BadInput) as refused:
        Rollout.from_json({**GOOD_STATE, **change})
    assert "\n" not in str(refused.value)


def test_a_good_rollout_state_loads():
    from sentinelcam_models.core.waves import Rollout  # noqa: PLC0415

    assert Rollout.from_json(dict(GOOD_STATE)).canary == ["sentinel1"]


def test_host_data_paths_never_leave_host_data(tmp_path):
    from sentinelcam_models.paths import host_data_file  # noqa: PLC0415

    with pytest.raises(ValueError):
        host_data_file(tmp_path / "production.py", "../../../../tmp/x")


# --- 23.6: host data holds only what the tool writes there ---------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ssh_strict_host_key_checking: 'no'\n",
        "ssh_known_hosts_file: /dev/null\n",
        "ssh_config_file: /tmp/evil_config\n",
        "model_version_overrides: {haarcascades: '2020-03-25'}\nssh_port: 2222\n",
    ],
)
def test_host_data_refuses_every_key_but_pins(tmp_path, text):
    from sentinelcam_models.core.settings import HOST_DATA_PROBLEMS  # noqa: PLC0415
    from sentinelcam_models.store.files import host_data  # noqa: PLC0415

    (tmp_path / "host_data").mkdir()
    (tmp_path / "host_data" / "s1.yaml").write_text(text)
    data = host_data(tmp_path / "production.py", "s1")
    assert list(data) == [HOST_DATA_PROBLEMS]
    [[file, _line, key, message]] = data[HOST_DATA_PROBLEMS]
    assert file.endswith("host_data/s1.yaml") and key.startswith("ssh_")
    assert "model_version_overrides" in message


def test_host_data_pins_still_load(tmp_path):
    from sentinelcam_models.store.files import host_data  # noqa: PLC0415

    (tmp_path / "host_data").mkdir()
    (tmp_path / "host_data" / "s1.yaml").write_text(
        "model_version_overrides:\n  haarcascades: '2020-03-25'\n"
    )
    assert host_data(tmp_path / "production.py", "s1") == {
        "model_version_overrides": {"haarcascades": "2020-03-25"}
    }


# --- 23.9: text from a node is printed escaped, on one line --------------------------------------


class Output:
    def __init__(self, line: str, buffer_name: str):
        self.line, self.buffer_name = line, buffer_name


class RunState:
    """A stand-in for pyinfra's State (the window keeps one semaphore per run)."""


class WindowHost:
    print_prefix = "[s1] "

    def __init__(self, lines, ok=False):
        self.lines, self.ok, self.logged = lines, ok, []

    def run_shell_command(self, command, **kwargs):
        return self.ok, self.lines

    def log(self, message):
        self.logged.append(message)


HOSTILE_LINES = [
    Output("sentinelcam: \x1b]0;pwned\x07title", "stdout"),
    Output("journal: \x1b[2J\x1b[Hall good\r", "stderr"),
]


def test_a_failed_commands_node_output_is_printed_escaped(caplog):
    import pyinfra.api.facts  # noqa: PLC0415
    import pyinfra.api.operations  # noqa: PLC0415

    import facts  # noqa: F401, PLC0415 - installs the escaped printer
    from facts.output import print_node_output  # noqa: PLC0415
    from operations.datasink import in_window  # noqa: PLC0415

    assert pyinfra.api.operations.print_host_combined_output is print_node_output
    assert pyinfra.api.facts.print_host_combined_output is print_node_output
    host = WindowHost(HOSTILE_LINES)
    with caplog.at_level("ERROR", logger="pyinfra"):
        assert not in_window(RunState(), host, None, "data1", 1, {})
    shown = "\n".join(r.getMessage() for r in caplog.records)
    assert "pwned" in shown and "\\x1b" in shown and "\\r" in shown
    node_parts = shown.replace("\x1b[31m", "").replace("\x1b[0m", "").replace("\x1b[39m", "")
    assert "\x1b" not in node_parts and "\x07" not in node_parts and "\r" not in node_parts


def test_a_window_log_line_from_a_node_is_escaped():
    from operations.datasink import in_window  # noqa: PLC0415

    host = WindowHost(HOSTILE_LINES, ok=True)
    assert in_window(RunState(), host, None, "data1", 1, {})
    assert host.logged == ["sentinelcam: \\x1b]0;pwned\\x07title"]


# --- 23.3: which versions each role's key may read --------------------------------------------


def test_served_roots_give_outposts_no_face_model_and_coral_only_where_coral_hosts_pull():
    from sentinelcam_models.core.serving import root_name, served_roots  # noqa: PLC0415
    from sentinelcam_models.core.validation import CheckedInventory, check_inventory  # noqa: PLC0415
    from tests.support.units import host, registry  # noqa: PLC0415

    checked = check_inventory(
        registry(),
        [],
        [
            host("sentinel1", "sentinels", sentinel_accelerator_type="cpu"),
            host("east", "outposts"),
            host("alpha5", "outposts", imagenode_accelerator_type="coral"),
            host("data1", "datasinks"),
        ],
        "inv.py",
    )
    assert isinstance(checked, CheckedInventory), checked
    roots, coral = served_roots(checked, "data1")
    assert root_name(checked.settings["east"]) == "outpost"
    assert roots["outpost"] and not any(i.startswith("face_recognition/") for i in roots["outpost"])
    assert any(i.startswith("face_recognition/") for i in roots["sentinel"])
    assert coral == ["outpost"]


# --- 23.2: a refused node state fails that host alone, in the deploy -----------------------------


def test_a_refused_node_state_makes_the_deploy_refuse_that_host_only(monkeypatch):
    from sentinelcam_models.core.nodestate import NodeState  # noqa: PLC0415
    from tests.unit import test_deploy_models as harness  # noqa: PLC0415

    fixture = harness.load("first-deploy.json")
    refused = NodeState(failure="node state refused: nested deeper than 16 levels")
    monkeypatch.setattr(harness, "node_state", lambda fixture: refused)
    operations, asked = harness.deploy(fixture)
    assert [op["name"] for op in operations] == ["Node state refused"]
    assert asked[0][1]["_timeout"] > 0  # the fact has a time limit
