"""fleet/edit.py: the one Edit every change and every rollout step goes through."""

from __future__ import annotations

import contextlib
import json
import subprocess

import pytest

from sentinelcam_models.core.problems import BadInput, OperatorError
from sentinelcam_models.fleet import edit as edit_module
from sentinelcam_models.fleet.edit import Edit


@pytest.fixture(autouse=True)
def action_log(tmp_path, monkeypatch):
    path = tmp_path / "actions.log"
    monkeypatch.setenv("SENTINELCAM_ACTION_LOG", str(path))
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(key, "t")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(key, "t@x.invalid")
    return path


def git(root, *args):
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "host_data").mkdir(parents=True)
    (root / "registry.yaml").write_text("a: 1\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def test_every_file_is_locked_in_one_global_order(repo, monkeypatch):
    locked = []

    @contextlib.contextmanager
    def recording(path):
        locked.append(path.name)
        yield

    monkeypatch.setattr(edit_module, "file_lock", recording)
    a, b, c = repo / "registry.yaml", repo / "host_data" / "z.yaml", repo / "host_data" / "a.yaml"
    Edit("one", "test").set(a, "a: 2\n").set(b, "z\n").set(c, "a\n").apply()
    first = list(locked)
    locked.clear()
    Edit("two", "test").set(c, "a2\n").set(a, "a: 3\n").set(b, "z2\n").apply()
    assert first == locked == ["a.yaml", "z.yaml", "registry.yaml"]  # sorted by full path


def test_the_files_are_committed_together_and_logged(repo, action_log):
    pin = repo / "host_data" / "h.yaml"
    changed = (
        Edit("Pin and move", "test", details={"model": "m"})
        .set(repo / "registry.yaml", "a: 2\n")
        .set(pin, "p: 1\n")
        .apply()
    )
    assert sorted(p.name for p in changed) == ["h.yaml", "registry.yaml"]
    assert git(repo, "log", "-1", "--format=%s") == "Pin and move"
    assert sorted(git(repo, "show", "--name-only", "--format=", "HEAD").split()) == [
        "host_data/h.yaml",
        "registry.yaml",
    ]
    [entry] = [json.loads(line) for line in action_log.read_text().splitlines()]
    assert entry["action"] == "test" and entry["outcome"] == "changed" and entry["model"] == "m"


def test_an_edit_says_whether_it_committed(repo, action_log):
    made = repo / "host_data" / "made-by-hand.yaml"  # a file git never had
    made.parent.mkdir(exist_ok=True)
    made.write_text("p: 1\n")
    tracked = Edit("Move", "test").set(repo / "registry.yaml", "a: 5\n")
    untracked = Edit("Remove", "test").set(made, None)
    not_asked = Edit("No commit", "test", commit=False).set(repo / "registry.yaml", "a: 6\n")
    for edit in (tracked, untracked, not_asked):
        edit.apply()
    assert (tracked.committed, untracked.committed, not_asked.committed) == (True, False, False)
    assert not made.exists() and git(repo, "log", "-1", "--format=%s") == "Move"
    logged = [json.loads(line)["committed"] for line in action_log.read_text().splitlines()]
    assert logged == [True, False, False]
    # a removed file git has: its removal is committed
    Edit("Add", "test").set(made, "p: 2\n").apply()
    removal = Edit("Remove tracked", "test").set(made, None)
    removal.apply()
    assert removal.committed and git(repo, "log", "-1", "--format=%s") == "Remove tracked"
    assert git(repo, "ls-files", "host_data") == ""


def test_a_file_changed_meanwhile_refuses_and_writes_nothing(repo):
    registry, pin = repo / "registry.yaml", repo / "host_data" / "h.yaml"
    edit = Edit("x", "test").set(registry, "a: 2\n", expected="a: 0\n", check=True)
    edit.set(pin, "p: 1\n")
    with pytest.raises(OperatorError, match="changed meanwhile"):
        edit.apply()
    assert registry.read_text() == "a: 1\n" and not pin.exists()


def test_a_failed_commit_restores_every_file(tmp_path, action_log):
    """Outside a git repository the commit fails: both files are as they were."""
    registry, pin = tmp_path / "registry.yaml", tmp_path / "h.yaml"
    registry.write_bytes(b"a: 1\r\n")
    edit = Edit("x", "test").set(registry, "a: 2\n").set(pin, "p: 1\n")
    with pytest.raises(OperatorError, match="not in a git repository"):
        edit.apply()
    assert registry.read_bytes() == b"a: 1\r\n" and not pin.exists()
    assert json.loads(action_log.read_text())["outcome"].startswith("failed:")


def test_a_failed_check_after_the_write_restores_and_does_not_commit(repo):
    registry = repo / "registry.yaml"
    head = git(repo, "rev-parse", "HEAD")
    seen = []

    def check():
        seen.append(registry.read_text())
        raise BadInput("not shown")

    edit = Edit("x", "test").set(registry, "a: 2\n").set(repo / "host_data" / "h.yaml", None)
    edit.check_written = check
    with pytest.raises(BadInput):
        edit.apply()
    assert seen == ["a: 2\n"]  # the check saw the written file
    assert registry.read_text() == "a: 1\n" and git(repo, "rev-parse", "HEAD") == head


def test_update_computes_the_new_text_under_the_lock_and_none_removes(repo):
    pin = repo / "host_data" / "h.yaml"
    pin.write_text("p: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pin")
    Edit("grow", "test").update(repo / "registry.yaml", lambda text: (text or "") + "b: 2\n").set(
        pin, None
    ).apply()
    assert (repo / "registry.yaml").read_text() == "a: 1\nb: 2\n" and not pin.exists()
    assert git(repo, "status", "--porcelain", "--", "registry.yaml", "host_data/h.yaml") == ""
