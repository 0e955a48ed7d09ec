"""The Makefile builds the venv on Debian's own python3, not on whichever python3 comes first on
PATH (a version manager's shim, a slower build), and an operator's choice still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = Path("/usr/bin/python3")


def python_the_makefile_picks(*args: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHON" and not k.startswith("MAKE")}
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", "said: ; @echo $(PYTHON)", *args, "said"],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def debian_python_is_new_enough() -> bool:
    if not DEBIAN_PYTHON.exists():
        return False
    version = subprocess.run(
        [str(DEBIAN_PYTHON), "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return tuple(map(int, version)) >= (3, 11)


def test_the_venv_is_built_on_debians_python3_where_it_is_new_enough(tmp_path):
    shim = tmp_path / "python3"  # a version manager's python3, first on PATH
    shim.symlink_to(sys.executable)
    path = f"{tmp_path}{os.pathsep}{os.environ['PATH']}"
    expected = str(DEBIAN_PYTHON) if debian_python_is_new_enough() else "python3"
    assert python_the_makefile_picks(PATH=path) == expected


def test_the_operators_python_wins_from_the_environment_or_the_command_line():
    assert python_the_makefile_picks(PYTHON="python3.12") == "python3.12"
    assert python_the_makefile_picks("PYTHON=/opt/py/bin/python3") == "/opt/py/bin/python3"
