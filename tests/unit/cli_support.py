"""A checkout for CLI tests: the shipped inventories copied into a temp directory under git, and a
CliRunner call that acts on it (no fleet, no SSH)."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from pathlib import Path

from click.testing import CliRunner, Result

from sentinelcam_models.cli import main
from tests.support.units import ROOT

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x.invalid",
}


def make_checkout(path: Path) -> Path:
    """``path`` with the shipped inventories, committed to a fresh git repository: a copy of one
    built once per test process (git init, add and commit are three processes per test else)."""
    shutil.copytree(_template(), path, symlinks=True, dirs_exist_ok=True)
    return path


_TEMPLATES: list[Path] = []


def _template() -> Path:
    if not _TEMPLATES:
        path = Path(tempfile.mkdtemp(prefix="sentinelcam-checkout-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        shutil.copytree(
            ROOT / "inventories",
            path / "inventories",
            ignore=shutil.ignore_patterns("__pycache__", ".*.lock"),
        )
        git(path, "init", "-q", "--template=")  # no sample hooks: less to copy per test
        git(path, "add", "-A")
        git(path, "commit", "-qm", "inventory")
        git(path, "repack", "-adq")  # one pack instead of a directory per object
        git(path, "prune-packed")
        _TEMPLATES.append(path)
    return _TEMPLATES[0]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**GIT_ENV, "PATH": "/usr/bin:/bin", "HOME": str(repo)},
    ).stdout


def invoke(*args: str, env: dict[str, str] | None = None, columns: int = 80) -> Result:
    """The CLI in this process; SENTINELCAM_INVENTORY and SENTINELCAM_REPO unset unless given."""
    base = {
        "SENTINELCAM_INVENTORY": None,
        "SENTINELCAM_REPO": None,
        "SENTINELCAM_DEBUG": None,
        "COLUMNS": str(columns),
    }
    return CliRunner().invoke(
        main,
        list(args),
        env={**base, **(env or {})},
        catch_exceptions=False,
        prog_name="sentinelcam-models",
    )
