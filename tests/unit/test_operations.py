"""The commands each custom operation yields (pyinfra's own test harness: a fake host with facts)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess

import pytest
from pyinfra.api import FunctionCommand, StringCommand
from pyinfra.context import ctx_host, ctx_state
from pyinfra_testing.util import FakeState, create_host

from operations import configs, coral, health, models, notice, services, system, trust
from sentinelcam_models.core.rollout import Gate, Probe, Pull, Restore


def run(op, facts=None, **kwargs):
    """(commands as strings or objects, noop description) of one operation's generator."""
    state = FakeState()
    host = create_host(state, facts=facts or {})
    with ctx_state.use(state), ctx_host.use(host):
        commands = list(op._inner(**kwargs))
    return commands, getattr(host, "noop_description", None)


def text(command) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else str(command)


def test_restart_is_one_exact_command_without_a_shell():
    [command], _ = run(services.restart, service="imagenode")
    assert text(command) == "systemctl restart imagenode.service"
    assert command.connector_arguments["_shell_executable"] is None  # sudoers can name it exactly
    with pytest.raises(ValueError):
        run(services.restart, service="sshd")


def test_system_file_is_a_tee_of_that_path_and_a_noop_when_equal():
    facts = {"keys.FileText": {"path=/etc/udev/rules.d/x.rules": "old"}}
    [command], _ = run(system.file, facts, path="/etc/udev/rules.d/x.rules", content="new")
    assert text(command) == "tee /etc/udev/rules.d/x.rules > /dev/null"
    assert command.connector_arguments["_stdin"] == "new"
    same, noop = run(
        system.file,
        {"keys.FileText": {"path=/etc/udev/rules.d/x.rules": "new"}},
        path="/etc/udev/rules.d/x.rules",
        content="new",
    )
    assert same == [] and "up to date" in noop


def test_config_file_writes_quoted_content_checked_by_digest(tmp_path):
    # Printable UTF-8 text travels as one quoted shell word: nothing in it runs, every byte
    # arrives. Anything a terminal would act on (CR, ESC) travels in base64: pyinfra prints
    # commands with -vv.
    dest = tmp_path / "x.yaml"
    for content, as_text in (
        ("a: '$(touch ran1)' `touch ran2` \"$HOME\" \\n \u00e9\n\tb: 2\n\n" * 3, True),
        ("a: 1\r\n# \x1b[2J\x1b]0;title\x07\n", False),
    ):
        [command], _ = run(configs.file, dest=str(dest), content=content, current="old")
        done = subprocess.run(["sh", "-c", text(command)], cwd=tmp_path, capture_output=True)
        assert done.returncode == 0, done.stderr
        assert dest.read_bytes() == content.encode()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["x.yaml"]
        assert f"digest={hashlib.sha256(content.encode()).hexdigest()}" in text(command)
        assert ("text=''" not in text(command)) is as_text and "\x1b" not in text(command)
        assert "\r" not in text(command)
    none, noop = run(configs.file, dest=str(dest), content=content, current=content)
    assert none == [] and "up to date" in noop
    with pytest.raises(ValueError):  # one command, one write per file
        run(configs.files, writes=[(str(dest), "a\n", None), (str(dest), "b\n", None)])
    with pytest.raises(ValueError):  # config_commit.sh splits staged names on whitespace
        run(configs.file, dest=str(tmp_path / "a b.yaml"), content=content, current="old")


def test_pull_is_one_script_and_takes_a_slot_in_the_datasinks_window():
    item = Pull(
        "face_recognition",
        "2026-02-02",
        "/home/ops/sentinel/models",
        "d" * 64,
        "2025-02-25",
        False,
        ("facelist.csv", "facedata.hdf5"),
    )
    [command], _ = run(
        models.pull, items=[item], models_path="/home/ops/sentinel/models", source="ops@data1"
    )
    raw = text(command)
    assert "items='face_recognition 2026-02-02 " + "d" * 64 + " 2025-02-25 0'" in raw
    assert "src=ops@data1\n" in raw and "try rsync $flags --delete" in raw
    [windowed], _ = run(
        models.pull,
        items=[item],
        models_path="/home/ops/sentinel/models",
        source="ops@data1",
        window=("data1", 8),
    )
    assert isinstance(windowed, FunctionCommand) and windowed.args[1:3] == ("data1", 8)
    nothing, noop = run(models.pull, items=[], models_path="/x/models", source="ops@data1")
    assert nothing == [] and "every version is installed" in noop


def test_coral_deb_runs_only_the_root_helper_with_exact_arguments():
    [command], _ = run(
        coral.deb,
        staged="/home/ops/sentinelcam/coral_packages/l.deb",
        sha256="a" * 64,
        version="16.0tf2.17.1-1",
        package="libedgetpu1-std",
    )
    assert text(command) == (
        "/usr/local/sbin/sentinelcam-coral-deb /home/ops/sentinelcam/coral_packages/l.deb "
        + "a" * 64
        + " 16.0tf2.17.1-1 libedgetpu1-std"
    )
    assert command.connector_arguments["_shell_executable"] is None


def test_health_gate_carries_the_revert_and_the_record():
    spec = Gate(
        ("imagenode",),
        (Probe("m", "v", ("/usr/bin/check", "/x/f"), 9),),
        (),
        20,
        120,
        (Restore("/home/ops/imagenode.yaml", "old\n", "imagenode"),),
        {"m": "v"},
    )
    [command], _ = run(
        health.gate, spec=spec, record="/home/ops/.sentinelcam/health.json", service_user="ops"
    )
    document = json.loads(command.bits[-1].obj)
    assert document["as_service"] == ["sudo", "-n", "-u", "ops"]
    assert document["restart"] == ["sudo", "-n", "systemctl", "restart"]
    assert document["revert"] == [
        {"dest": "/home/ops/imagenode.yaml", "restarts": "imagenode", "text": "b2xkCg=="}
    ]
    assert document["probes"] == [
        {"model": "m", "version": "v", "argv": ["/usr/bin/check", "/x/f"], "timeout": 9}
    ]


def test_refuse_fails_the_host_with_each_reason():
    [command], _ = run(notice.refuse, reasons=["no imagenode.yaml", "it's odd"])
    raw = text(command)
    assert raw.endswith("exit 1") and raw.count("sentinelcam: refused:") == 2 and "'\"'\"'" in raw


def test_key_is_created_only_when_missing():
    facts = {"keys.PublicKey": {"path=/home/ops/.ssh/id_ed25519.pub": None}}
    [command], _ = run(
        trust.key, facts, path="/home/ops/.ssh/id_ed25519", comment="sentinelcam-pull@east"
    )
    assert (
        "ssh-keygen -q -t ed25519 -N '' -C sentinelcam-pull@east -f /home/ops/.ssh/id_ed25519"
        in text(command)
    )
    present = {"keys.PublicKey": {"path=/home/ops/.ssh/id_ed25519.pub": ("ssh-ed25519", "AAAA")}}
    assert run(trust.key, present, path="/home/ops/.ssh/id_ed25519", comment="c")[0] == []


def test_a_config_read_in_latin1_is_written_and_reverted_byte_for_byte(tmp_path):
    """A Latin-1 task file once counted as absent (the gate revert deleted it) and FileText
    rewrote non-UTF-8 lines; text read from a node now goes back as the same bytes."""
    from facts.keys import FileText  # noqa: PLC0415
    from sentinelcam_models.core.untrusted import as_text  # noqa: PLC0415

    latin1 = "# caf\xe9 cr\xe8me\nfacemodel: x\n".encode("latin-1")
    old = as_text(latin1)
    spec = Gate((), (), (), 0, 10, (Restore("/home/ops/t.yaml", old, None),), {})
    [command], _ = run(health.gate, spec=spec, record="/x/health.json", service_user=None)
    document = json.loads(command.bits[-1].obj)
    assert base64.b64decode(document["revert"][0]["text"]) == latin1
    dest = tmp_path / "t.yaml"
    [write], _ = run(configs.file, dest=str(dest), content=old, current=None)
    done = subprocess.run(["sh", "-c", text(write)], capture_output=True)
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == latin1
    read = subprocess.run(
        ["sh", "-c", FileText().command(str(dest)).get_raw_value()], capture_output=True, text=True
    )
    assert FileText().process(read.stdout.splitlines()) == old


def test_authorized_keys_lines_in_any_encoding_stay_byte_for_byte(tmp_path):
    from facts.keys import FileText  # noqa: PLC0415
    from sentinelcam_models.core.trust import authorized_keys  # noqa: PLC0415
    from sentinelcam_models.core.untrusted import as_bytes  # noqa: PLC0415

    theirs = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther Jos\xe9 (latin-1)\n"
    path = tmp_path / "authorized_keys"
    path.write_bytes(theirs)
    read = subprocess.run(
        ["sh", "-c", FileText().command(str(path)).get_raw_value()], capture_output=True, text=True
    )
    current = FileText().process(read.stdout.splitlines())
    new = authorized_keys(current, {"s1": ("ssh-ed25519", "AAAAkey")}, "/home/ops/store")
    assert as_bytes(new).startswith(theirs)


def written(command) -> str:
    """The file content a config_stage.sh command carries (as text, or in base64 on the wire)."""
    bits = list(command.bits)
    text, packed = (bits[bits.index(key) + 1].obj for key in ("text=", "content="))
    return base64.b64decode(packed).decode("utf-8", "surrogateescape") if packed else text


class _Node:
    """A node as authorize_nodes reads it: its pull key and every key its service account holds."""

    def __init__(self, key, held):
        self.key, self.held = key, held

    def get_fact(self, fact, **kwargs):
        return self.key if fact.__name__ == "PublicKey" else self.held


class _Inventory:
    def __init__(self, nodes):
        self.nodes = nodes

    def get_host(self, name):
        return self.nodes[name]


def test_authorize_nodes_keeps_the_file_as_it_was_then_writes_it_without_the_plain_lines():
    k1, k2, old = ("ssh-ed25519", "AAAAk1"), ("ssh-ed25519", "AAAAk2"), ("ssh-rsa", "AAAAold")
    before = "ssh-rsa AAAAop op@laptop\nssh-ed25519 AAAAk1 ops@s1\nssh-rsa AAAAold ops@s2\n"
    state = FakeState()
    state.inventory = _Inventory({"s1": _Node(k1, [k1]), "s2": _Node(k2, [k2, old])})
    path = "/home/ops/.ssh/authorized_keys"
    host = create_host(state, facts={"keys.FileText": {f"path={path}": before}})
    logged = []
    host.log = logged.append
    with ctx_state.use(state), ctx_host.use(host):
        backup, write = list(
            trust.authorize_nodes._inner(
                path=path,
                store="/home/ops/sentinelcam/model_registry",
                clients={"s1": ("/home/ops/.ssh/id_ed25519.pub", {})},
                others={"s2": ("/home/ops/.ssh/id_ed25519.pub", {})},
            )
        )
    assert re.fullmatch(
        rf"cp -p {path} {path}\.sentinelcam-before-\d{{8}}T\d{{6}}Z", text(backup)
    ), text(backup)
    assert "ops@s1" not in written(write) and "AAAAold" not in written(write)
    assert "ssh-rsa AAAAop op@laptop" in written(write)
    assert "sentinelcam-pull@s1" in written(write)
    assert [line.split(" (key of ")[1][:2] for line in logged] == ["s1", "s2"]
    assert "line 2 (key of s1)" in logged[0] and "gets no line" in logged[1]


def test_authorize_nodes_never_revokes_the_operator_s_key_a_node_holds():
    k1, operator = ("ssh-ed25519", "AAAAk1"), ("ssh-ed25519", "AAAAoperator")
    before = "ssh-ed25519 AAAAoperator op@laptop\n"
    state = FakeState()
    state.inventory = _Inventory({"s1": _Node(k1, [k1, operator])})
    path = "/home/ops/.ssh/authorized_keys"
    host = create_host(state, facts={"keys.FileText": {f"path={path}": before}})
    logged = []
    host.log = logged.append
    with ctx_state.use(state), ctx_host.use(host):
        commands = list(
            trust.authorize_nodes._inner(
                path=path,
                store="/home/ops/sentinelcam/model_registry",
                clients={"s1": ("/home/ops/.ssh/id_ed25519.pub", {})},
                spare=[operator],
            )
        )
    [write] = commands  # no backup: nothing is revoked
    assert "ssh-ed25519 AAAAoperator op@laptop" in written(write)
    assert logged == ["sentinelcam: s1 holds one of the operator's keys; lines authorizing it stay"]
