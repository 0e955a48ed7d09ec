"""tests/support/spawn.py: the test workers' Popen (gevent's, its child started by the standard
library's vfork) keeps what the product's subprocess calls rely on: exit codes and signals, pipes,
input, cwd, env, exec errors, timeouts, and waiting without blocking other greenlets."""

from __future__ import annotations

import os
import signal
import subprocess

import gevent
import pytest

from tests.support import spawn


def test_this_python_and_gevent_take_the_arguments_spawn_was_written_for():
    # otherwise install() leaves gevent's fork in place and the unit run is slow again
    assert spawn._same_arguments()


def test_status_pipes_input_cwd_and_env(tmp_path):
    with spawn.Popen(
        ["sh", "-c", 'cat; pwd; echo "$X" >&2; exit 7'],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env={"X": "from env", "PATH": os.environ["PATH"]},
        text=True,
    ) as proc:
        out, err = proc.communicate("in\n", timeout=30)
    assert (proc.returncode, out, err) == (7, f"in\n{tmp_path}\n", "from env\n")


def test_a_signal_is_a_negative_returncode():
    with spawn.Popen(["sh", "-c", "kill -KILL $$"]) as proc:
        assert proc.wait(timeout=30) == -signal.SIGKILL


def test_exec_and_cwd_failures_raise_in_the_parent_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        spawn.Popen([str(tmp_path / "no-such-program")])
    assert missing.value.filename == str(tmp_path / "no-such-program")
    with pytest.raises(FileNotFoundError) as no_dir:
        spawn.Popen(["true"], cwd=tmp_path / "no-such-dir")
    assert no_dir.value.filename == str(tmp_path / "no-such-dir")


def test_a_timeout_expires_and_the_child_can_be_killed():
    with spawn.Popen(["sleep", "30"]) as proc:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
        proc.kill()
        assert proc.wait(timeout=30) == -signal.SIGKILL


def test_waiting_lets_other_greenlets_run():
    """The child reads one byte that only another greenlet writes: a wait that blocked the
    process would leave it unfed until its own 10 s timeout (exit 124)."""
    read_end, write_end = os.pipe()
    try:
        proc = spawn.Popen(["timeout", "10", "head", "-c1"], stdin=read_end)
        feeder = gevent.spawn(os.write, write_end, b"x")
        assert proc.wait(timeout=30) == 0
        feeder.join()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_status_survives_other_children_being_reaped_first():
    """libev's SIGCHLD handler reaps every child that has exited when the hub runs; a child it was
    not told about would lose its status (gevent's wait would then never return)."""
    first = spawn.Popen(["sh", "-c", "exit 5"])
    for _ in range(3):  # each run lets the hub process SIGCHLD, the first child's too
        assert spawn.Popen(["sh", "-c", "exit 3"]).wait(timeout=30) == 3
    assert first.wait(timeout=30) == 5
