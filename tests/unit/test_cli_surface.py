"""The operator's daily surface through click's CliRunner (no fleet): the day-one bugs, the
conventions every command shares, and the drift table at 80 columns."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import click
import pytest
from rich.console import Console

from sentinelcam_models.cli import main
from sentinelcam_models.cli.commands import drift as drift_command
from sentinelcam_models.cli.conventions import walk
from sentinelcam_models.cli.drifttable import print_drift
from sentinelcam_models.core.drift import HostReport, ModelRow
from sentinelcam_models.fleet import queries
from sentinelcam_models.fleet import session as fleet_session
from sentinelcam_models.fleet.stores import LocalClient
from sentinelcam_models.store.local import LocalStore
from tests.support.models import valid
from tests.unit.cli_support import git, invoke, make_checkout

# ---------------------------------------------------------------- 8: the day-one bugs


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    repo = make_checkout(tmp_path / "fleet-config")
    monkeypatch.chdir(repo)
    return repo


def test_an_inventory_that_raises_is_one_line_naming_file_line_and_exception(checkout):
    inventory = checkout / "inventories" / "production.py"
    lines = inventory.read_text().splitlines()
    inventory.write_text("\n".join([*lines, "oops = undefined_name"]) + "\n")
    result = invoke("validate")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {inventory}:{len(lines) + 1}: NameError: name 'undefined_name' is not defined"
    ]


def test_a_group_data_file_that_raises_names_that_file_and_the_inventory(checkout):
    all_py = checkout / "inventories" / "group_data" / "all.py"
    all_py.write_text(all_py.read_text() + "raise RuntimeError('no fleet here')\n")
    line = len(all_py.read_text().splitlines())
    result = invoke("validate")
    assert result.exit_code == 2
    [message] = result.stderr.splitlines()
    assert message.startswith(f"error: {all_py}:{line}: RuntimeError: no fleet here")
    assert "production.py" in message
    assert "internal error" not in message


def test_an_inventory_with_a_syntax_error_names_its_line(checkout):
    inventory = checkout / "inventories" / "production.py"
    inventory.write_text("datasinks = [\n    ('data1', {}\n\nsentinels = ]\n")
    result = invoke("validate")
    assert result.exit_code == 2
    [message] = result.stderr.splitlines()
    assert re.match(rf"error: {re.escape(str(inventory))}:\d+: SyntaxError: ", message)


def test_history_shows_the_commit_messages_as_written(checkout):
    registry = checkout / "inventories" / "group_data" / "model_registry.yaml"
    text = registry.read_text()
    assert 'current_version: "2020-12-06"' in text
    registry.write_text(
        text.replace('current_version: "2020-12-06"', 'current_version: "2026-01-01"', 1)
    )
    git(checkout, "commit", "-qam", "Promote mobilenet_ssd to 2026-01-01")
    result = invoke("history", "mobilenet_ssd", "--json")
    assert result.exit_code == 0, result.output
    newest = json.loads(result.stdout)[0]
    assert newest["subject"] == "Promote mobilenet_ssd to 2026-01-01"
    assert (newest["from"], newest["to"]) == ("2020-12-06", "2026-01-01")
    table = invoke("history", "mobilenet_ssd", columns=200)
    assert "\\x00" not in table.stdout and "\x00" not in table.stdout
    assert re.search(r"  Promote mobilenet_ssd to 2026-01-01 *$", table.stdout, re.M), table.stdout


def _publish(store: Path, model: str, version: str, files: dict[str, bytes]) -> None:
    src = store.parent / f"src-{model}-{version}"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    LocalStore(store).publish(model, version, src, list(files))


@pytest.mark.parametrize("with_store", [True, False])
def test_verify_without_a_model_verifies_every_version_in_the_store(
    checkout, with_store, monkeypatch
):
    store = checkout.parent / "store"
    store.mkdir()
    _publish(
        store,
        "haarcascades",
        "2020-03-25",
        {"haarcascade_eye.xml": valid("haarcascade_eye.xml", "1")},
    )
    _publish(
        store,
        "haarcascades",
        "2026-01-01",
        {"haarcascade_eye.xml": valid("haarcascade_eye.xml", "2") + b"<!-- 2 -->\n"},
    )
    _publish(
        store,
        "openface_torch",
        "2020-03-25",
        {"openface_nn4.small2.v1.t7": valid("openface_nn4.small2.v1.t7")},
    )
    if with_store:
        args = ["verify", "--store", str(store)]
    else:  # the primary datasink's store, as if this machine were the primary
        args = ["verify"]
        monkeypatch.setattr(
            fleet_session, "open_store", lambda checked, _store, inventory=None: LocalClient(store)
        )
    result = invoke(*args)
    verified = re.findall(r"^(\w+/\d{4}-\d\d-\d\d): ok", result.stdout, re.M)
    assert {
        "haarcascades/2020-03-25",
        "haarcascades/2026-01-01",
        "openface_torch/2020-03-25",
    } <= set(verified), result.output
    (store / "haarcascades" / "2026-01-01" / "haarcascade_eye.xml").write_bytes(b"changed")
    result = invoke(*args)
    assert result.exit_code == 1
    assert "haarcascades/2026-01-01" in result.stderr


# ---------------------------------------------------------------- 6: conventions


def _paths(command: click.Command) -> list[list[str]]:
    return [path.split() for path, _ in walk(command)]


@pytest.mark.parametrize("path", _paths(main), ids=lambda p: " ".join(p) or "main")
def test_every_help_page_has_examples_and_answers_to_dash_h(path):
    result = invoke(*path, "-h")
    assert result.exit_code == 0, result.output
    assert "\nExamples:\n" in result.stdout.replace("  Examples:", "Examples:")
    examples = result.stdout.split("Examples:", 1)[1].split("\n")
    shown = [line.strip() for line in examples if line.strip()]
    assert shown and all(line.startswith("sentinelcam-models ") for line in shown)
    # an example of a subcommand runs that subcommand
    if path:
        assert any(line.split()[1 : 1 + len(path)] == path for line in shown), shown


def test_version_names_the_package_python_pyinfra_and_checkout(checkout):
    result = invoke("--version")
    assert result.exit_code == 0
    first, second, third = result.stdout.splitlines()
    assert re.fullmatch(r"sentinelcam-models \d+\.\d+\.\d+\S*", first)
    assert "pyinfra 3." in second
    assert third == f"checkout: {checkout}"


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["promote", "mobilenet_ssd", "2026-01-01", "--waves", "50%,100%"],
            "--waves needs --canary",
        ),
        (
            ["promote", "mobilenet_ssd", "2026-01-01", "--max-failed", "2"],
            "--max-failed needs --canary",
        ),
        (
            ["promote", "mobilenet_ssd", "2026-01-01", "--canary", "lab1", "--no-deploy"],
            "--no-deploy cannot be used with --canary",
        ),
    ],
)
def test_combinations_that_would_be_ignored_are_refused(checkout, args, message):
    registry = checkout / "inventories" / "group_data" / "model_registry.yaml"
    before = registry.read_bytes()
    result = invoke(*args, "--yes")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {message}")
    assert registry.read_bytes() == before


def test_one_host_list_syntax_repeatable_and_commas(checkout, monkeypatch):
    seen = {}

    def fake_query(pyinfra_inventory, hosts, checked, deep, with_coral):
        seen["hosts"] = [h.name for h in hosts]
        return {}

    monkeypatch.setattr(queries, "query_fleet", fake_query)
    invoke("drift", "--limit", "lab1,alpha5", "--limit", "east")
    assert sorted(seen["hosts"]) == ["alpha5", "east", "lab1"]
    seen.clear()
    invoke("drift", "--limit", "lab1", "--limit", "alpha5,east")
    assert sorted(seen["hosts"]) == ["alpha5", "east", "lab1"]
    bad = invoke("drift", "--limit", "lab1,,east")
    assert bad.exit_code == 2 and "empty host name" in bad.stderr
    # promote --canary and faces archives --limit take the same type
    for path, option in ((["promote"], "--canary"), (["faces", "archives"], "--limit")):
        command = main
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        param = next(p for p in command.params if option in p.opts)
        assert param.multiple and param.type.name == "host[,host...]"


def test_the_coral_digest_warning_only_where_it_matters(checkout, monkeypatch):
    """The shipped registry leaves the Coral digests unset and production.py has a Coral sentinel."""
    validate = invoke("validate")
    assert "coral_packages" in validate.stderr and "refused: sentinel" in validate.stderr
    listing = invoke("list")
    assert listing.exit_code == 0
    assert "coral" not in listing.stderr
    status = invoke("rollout", "status")
    assert "coral" not in status.stderr


def test_no_third_party_log_lines(checkout, monkeypatch):
    """pyinfra logs "Failed to load host keys from ..." through logging's last resort."""
    import logging  # noqa: PLC0415

    monkeypatch.setattr(
        queries,
        "query_fleet",
        lambda *a, **k: (
            logging.getLogger("pyinfra").warning("Failed to load host keys from x")
            or logging.getLogger("paramiko.transport").warning("paramiko noise")
            or {}
        ),
    )
    result = invoke("drift")
    assert "Failed to load host keys" not in result.stderr
    assert "paramiko noise" not in result.stderr
    # only for the command: logging is as it was afterwards (the CLI may run in-process)
    assert logging.getLogger("pyinfra").propagate and logging.getLogger("paramiko").propagate


def test_completion_of_models_versions_and_hosts(checkout):
    def complete(line: str) -> list[str]:
        result = invoke(
            env={
                "_SENTINELCAM_MODELS_COMPLETE": "bash_complete",
                "COMP_WORDS": line,
                "COMP_CWORD": str(len(line.split()) - (0 if line.endswith(" ") else 1)),
            }
        )
        return [item.split(",", 1)[1] for item in result.stdout.split()]

    def run(line: str) -> list[str]:
        return complete(line)

    models = run("sentinelcam-models list mobilenet")
    assert models == ["mobilenet_ssd", "mobilenet_ssd_depthai", "mobilenet_ssd_edgetpu"]
    assert run("sentinelcam-models rollback haarcascades ") == ["2020-03-25"]
    hosts = run("sentinelcam-models pin ")
    assert {"data1", "sentinel", "lab1", "alpha5", "east", "deepthink"} <= set(hosts)
    assert run("sentinelcam-models drift --limit lab1,al") == ["lab1,alpha5"]


WHAT_IT_IMPORTED = """
import sys
before = set(sys.modules)  # what the interpreter's start loaded (a sitecustomize, say)
sys.argv = ["sentinelcam-models", *sys.argv[1:]]
from sentinelcam_models.cli import main
try:
    main()
except SystemExit:
    pass
heavy = ("jinja2", "importlib.metadata", "urllib.request", "http.client", "pyinfra")
print("imported:", *(m for m in heavy if m in sys.modules and m not in before), file=sys.stderr)
"""


def _completing(line: str) -> dict[str, str]:
    return {
        "_SENTINELCAM_MODELS_COMPLETE": "bash_complete",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(line.split()) - 1),
    }


@pytest.mark.parametrize(
    "env, args",
    [
        ({}, ["--help"]),
        (_completing("sentinelcam-models list mob"), []),  # reads the registry
    ],
)
def test_help_and_completion_start_without_templates_http_or_pyinfra(checkout, env, args):
    # A completion runs the command at every TAB; jinja2, urllib.request with http.client, and
    # importlib.metadata (the version) were 30 to 40 ms of such a start, and neither help nor a
    # model's completion uses them (a host name's completion loads the inventory: pyinfra).
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-c", WHAT_IT_IMPORTED, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout  # the help or the completions were printed
    assert [line for line in done.stderr.splitlines() if line.startswith("imported:")] == [
        "imported:"
    ]


# ---------------------------------------------------------------- 2: the drift table


def _reports() -> list[HostReport]:
    long_host = "sentinel-kitchen-window"
    return [
        HostReport(
            long_host,
            True,
            services={"sentinel": "active", "imagenode": "active"},
            models=[
                ModelRow(
                    "face_detection_blazeface",
                    "sentinel",
                    "2026-02-02",
                    True,
                    ["2026-02-02"],
                    ["2025-12-01", "2025-11-01", "2025-10-01"],
                ),
                ModelRow(
                    "mobilenet_ssd_edgetpu",
                    "imagenode",
                    "2026-03-01",
                    False,
                    ["2025-12-19"],
                    status="drift",
                    detail="active 2025-12-19, desired 2026-03-01: redeploy or pin it",
                ),
                ModelRow(
                    "face_recognition",
                    "sentinel",
                    "2026-02-02",
                    False,
                    ["2026-02-02"],
                    node_modified=["facelist.csv (2026-02-02)"],
                ),
            ],
            coral={"status": "drift", "detail": "libedgetpu1-std 16.0 installed, want 16.0tf2"},
            gate={"status": "passed", "detail": "2 probe(s)", "time": None},
        ),
        HostReport(
            "east",
            False,
            "cannot connect over SSH (timed out)",
            models=[
                ModelRow(
                    "mobilenet_ssd_depthai", "imagenode", "2026-06-07", False, status="unreachable"
                )
            ],
        ),
    ]


def _render(reports: list[HostReport], output: str, width: int) -> str:
    buffer = io.StringIO()
    print_drift(Console(file=buffer, width=width, highlight=False, soft_wrap=True), reports, output)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [80, 100])
def test_the_drift_table_fits_and_never_cuts_a_version_or_a_model_name(width):
    reports = _reports()
    shown = _render(reports, "table", width)
    lines = shown.splitlines()
    assert all(len(line.rstrip()) <= width for line in lines), shown
    assert "…" not in shown
    words = set(shown.replace(",", " ").split())
    for report in reports:
        assert report.host in words
        for item in report.models:
            assert item.model in words
            for version in [item.desired, *item.active, *item.installed]:
                assert version in words, (version, shown)
    # the summary comes first
    assert lines[0].startswith("2 hosts, 4 models: ok 2, drift 1, unreachable 1")
    # grouped by host: the host's line, then its models (indented)
    host_line = next(
        i for i, line in enumerate(lines) if line.startswith("sentinel-kitchen-window")
    )
    east_line = next(i for i, line in enumerate(lines) if line.startswith("east "))
    group = lines[host_line:east_line]
    models = group[group.index("  sentinel") :]  # after the host's (wrapped) line
    firsts = [line.split()[0] for line in models if line.startswith("    ") and line.strip()]
    assert [w for w in firsts if not w[0].isdigit()][:3] == [
        "face_detection_blazeface",
        "face_recognition",
        "node-modified:",
    ]
    assert "  sentinel" in group and "  imagenode" in group  # two roles: a line for each
    assert lines[east_line + 1].split()[:2] == ["mobilenet_ssd_depthai", "2026-06-07"]
    assert "coral drift" in shown and "gate passed" in shown


def test_the_drift_table_hides_columns_that_are_empty_everywhere():
    reports = _reports()
    for report in reports:
        for item in report.models:
            item.installed = []
            item.node_modified = []
    shown = _render(reports, "table", 80)
    header = shown.splitlines()[1].split()
    assert header == ["model", "desired", "active", "status"]
    assert "node-modified" not in shown
    wide = _render(reports, "wide", 80)
    assert "installed (inactive)" in wide and "node-modified" in wide
    assert "…" not in wide  # wide: as wide as it needs, nothing cut


def test_drift_through_the_cli_at_80_columns_and_the_version_in_json(checkout, monkeypatch):
    monkeypatch.setattr(queries, "query_fleet", lambda *a, **k: {})
    result = invoke("drift", columns=80)
    assert result.exit_code == 2  # every host unreachable
    lines = result.stdout.splitlines()
    assert lines[0].startswith("5 hosts, ") or lines[0].split()[1] == "hosts,"
    assert all(len(line.rstrip()) <= 80 for line in lines), result.stdout
    assert "mobilenet_ssd_edgetpu" in result.stdout.split()
    document = json.loads(invoke("drift", "--json").stdout)
    from importlib.metadata import version  # noqa: PLC0415

    import sentinelcam_models  # noqa: PLC0415

    assert document["version"] == version("sentinelcam-models")
    assert sentinelcam_models.__version__ == document["version"]  # the usual spelling too
    schema = json.loads((Path(drift_command.__file__).parents[2] / "drift_schema.json").read_text())
    assert "version" in schema["properties"]


def _width_when_piped(columns: str | None) -> int:
    """The output console's width in a process whose stdout is a pipe and whose stderr and stdin
    are a 123-column terminal (``sentinelcam-models drift | less`` in a terminal)."""
    import fcntl  # noqa: PLC0415
    import os  # noqa: PLC0415
    import pty  # noqa: PLC0415
    import struct  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import termios  # noqa: PLC0415

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 123, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERM")}
    if columns is not None:
        env["COLUMNS"] = columns
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from sentinelcam_models.cli.render import out; print(out.width)",
            ],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=follower,
            env={**env, "TERM": "xterm"},
            text=True,
            timeout=60,
        )
    finally:
        os.close(follower)
        os.close(leader)
    return int(done.stdout)


def test_piped_output_keeps_the_terminals_width_or_columns():
    assert _width_when_piped(None) == 123
    assert _width_when_piped("91") == 91
