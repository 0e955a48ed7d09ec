"""Long work shows progress (a bar with bytes and rate on stderr) and a held store lock says who
holds it and since when, giving up after --lock-timeout (CliRunner; rsync runs for real)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sentinelcam_models.fleet import transfer
from sentinelcam_models.store.local import LocalStore
from tests.support.models import valid
from tests.unit.cli_support import invoke, make_checkout


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    repo = make_checkout(tmp_path / "fleet-config")
    monkeypatch.chdir(repo)
    return repo


def test_rsync_progress_lines_are_parsed_into_bytes():
    output = (
        b"\r         32,768   0%    0.00kB/s    0:00:00  "
        b"\r     42,696,704  42%   40.71MB/s    0:00:01  "
        b"\r    100,000,000 100%   39.64MB/s    0:00:02 (xfr#1, to-chk=0/2)\n"
        b"\r      1.234.567  50%"
    )
    counts, rest = transfer.parse_progress(output)
    assert counts == [32_768, 42_696_704, 100_000_000]
    assert rest == b"      1.234.567  50%"  # incomplete: kept for the next chunk


def test_an_rsync_run_reports_every_byte(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(3_000_000))
    (src / "b.bin").write_bytes(os.urandom(1_000_000))
    seen: list[int] = []
    code, errors = transfer.run(["rsync", "-rt", f"{src}/", f"{tmp_path / 'dst'}/"], seen.append)
    assert (code, errors) == (0, "")
    assert sum(seen) == 4_000_000 and all(n > 0 for n in seen)
    assert (tmp_path / "dst" / "a.bin").read_bytes() == (src / "a.bin").read_bytes()


def test_upload_argv_keeps_host_key_checking_and_refuses_words_ssh_would_split():
    data = {
        "ssh_hostname": "10.0.0.5",
        "ssh_user": "admin",
        "ssh_key": "/keys/id",
        "ssh_known_hosts_file": "/keys/known_hosts",
        "ssh_strict_host_key_checking": "yes",
    }
    argv = transfer.upload_argv("/src dir", "/store/.upload-1/", data, "data1", "ops")
    assert argv[-2:] == ["/src dir/", "admin@10.0.0.5:/store/.upload-1/"]
    ssh = argv[argv.index("-e") + 1]
    assert "StrictHostKeyChecking=yes" in ssh and "UserKnownHostsFile=/keys/known_hosts" in ssh
    assert argv[argv.index("--rsync-path") + 1] == "sudo -u ops rsync"
    with pytest.raises(Exception, match="spaces or quotes"):
        transfer.upload_argv("/s", "/d/", {**data, "ssh_key": "/my keys/id"}, "data1", None)


def test_publish_shows_bytes_and_rate(checkout, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    # a real cascade, with 5 MB of XML comments (the loader skips them)
    cascade = valid("haarcascade_eye.xml")
    comment = b"<!-- " + os.urandom(2_500_000).hex().encode() + b" -->\n"
    (src / "haarcascade_eye.xml").write_bytes(cascade + comment)
    result = invoke(
        "publish",
        "haarcascades",
        str(src),
        "--version",
        "2026-01-01",
        "--yes",
        "--store",
        str(store),
        env={"SENTINELCAM_PROGRESS": "1"},
    )
    assert result.exit_code == 0, result.output
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", result.stderr)
    assert "publish haarcascades/2026-01-01" in plain
    assert "5.0/5.0 MB" in plain  # bytes copied of the total
    assert re.search(r"\d+(\.\d+)? [kMGT]?B/s", plain)  # the rate
    assert result.stdout.startswith("published haarcascades/2026-01-01")
    quiet = invoke(
        "publish",
        "haarcascades",
        str(src),
        "--version",
        "2026-01-02",
        "--yes",
        "--store",
        str(store),
    )
    assert quiet.exit_code == 0 and quiet.stderr == ""  # not a terminal: no bar


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sentinelcam_models.store.atomic import store_lock
    with store_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.read()  # held until the test closes our stdin
    """
)


def test_a_held_store_lock_names_its_holder_and_lock_timeout_gives_up(
    checkout, tmp_path, monkeypatch
):
    from sentinelcam_models.store.atomic import LockWait  # noqa: PLC0415

    monkeypatch.setattr(LockWait, "poll", 0.02)  # tries every 0.02 s: gives up after 0.1 s, not 0.6
    store = tmp_path / "store"
    store.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "haarcascade_eye.xml").write_bytes(valid("haarcascade_eye.xml"))
    LocalStore(store).publish("haarcascades", "2020-03-25", src, ["haarcascade_eye.xml"])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = invoke("cleanup", "--store", str(store), "--lock-timeout", "0.1")
        record = (store / ".lock").read_text()  # the waiter that gave up erased nothing
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    waiting = next(line for line in lines if line.startswith("waiting for the lock"))
    assert re.search(
        rf"{re.escape(str(store / '.lock'))} held by PID {holder.pid} \(\S+\) since "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
        waiting,
    ), waiting
    assert lines[-1].startswith(f"error: {store / '.lock'}: still held by PID {holder.pid} ")
    assert "(--lock-timeout); nothing changed" in lines[-1]
    assert record.startswith(f"{holder.pid} ")
    assert (store / ".lock").read_text() == ""  # released: a free lock names nobody
    # the lock is free again: the same command runs
    again = invoke("cleanup", "--store", str(store), "--lock-timeout", "5", "--dry-run")
    assert again.exit_code == 0, again.output
    assert "waiting" not in again.stderr


class _Line:
    def __init__(self, buffer_name: str, line: str):
        self.buffer_name, self.line = buffer_name, line


class _FakeRemote:
    """A RemoteStore stand-in: the lock file's text over "SSH", and the agent calls made."""

    root = "/home/ops/sentinelcam/model_registry"
    where = f"data1:{root}"

    def __init__(self, lock_text: str):
        self.lock_text = lock_text
        self.calls: list[str] = []
        self.host = self

    def run_shell_command(self, command, **_):
        self.calls.append(f"shell {command.get_raw_value()}")
        return True, [_Line("stdout", line) for line in self.lock_text.splitlines()]

    def connector_args(self):
        return {}

    def call(self, command, **_):
        self.calls.append(command)
        return {}


@pytest.mark.parametrize(
    "lock_text, said",
    [
        (
            "712 2026-12-06T10:15:00Z data1\n",
            "waiting for the lock data1:/home/ops/sentinelcam/model_registry/.lock held by PID 712 "
            "(data1) since 2026-12-06T10:15:00Z",
        ),
        ("", None),  # released: nobody to name
    ],
)
def test_a_remote_store_says_whom_it_waits_for_before_the_agent_blocks(
    monkeypatch, lock_text, said
):
    from sentinelcam_models.fleet.stores import RemoteClient  # noqa: PLC0415
    from sentinelcam_models.store.atomic import LockWait  # noqa: PLC0415

    told: list[str] = []
    monkeypatch.setattr(LockWait, "report", staticmethod(told.append))
    monkeypatch.setattr(LockWait, "timeout", None)
    remote = _FakeRemote(lock_text)
    client = RemoteClient(remote)  # type: ignore[arg-type]
    client.call("versions", model="haarcascades")  # takes no lock: no look
    assert remote.calls == ["versions"] and told == []
    client.call("cleanup", policy={}, keep=1, dry_run=True)
    assert remote.calls[1].startswith("shell cat -- ") and remote.calls[1].endswith("/.lock")
    assert remote.calls[2] == "cleanup"  # said before the agent runs
    assert told == ([said] if said else [])
