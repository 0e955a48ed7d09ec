"""The Makefile builds the venv on Debian's own python3 (DEBIAN_PYTHON), not on whichever python3
comes first on PATH (a version manager's shim, a slower build), where that python3 is 3.11 or newer
and has venv's ensurepip, or can be given it (as root, host-packages.sh installs python3-venv).
An operator's choice still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python_the_makefile_picks(*args: str, variable: str = "PYTHON", **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHON" and not k.startswith("MAKE")}
    result = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "--eval",
            f"said: ; @echo $({variable})",
            *args,
            "said",
        ],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def interpreters(tmp_path) -> dict[str, Path]:
    """Stand-ins for /usr/bin/python3: a real 3.11+ interpreter, one that says it is 3.9, and a
    3.11+ one without python3-venv (`import ensurepip` fails)."""
    new = tmp_path / "new"
    new.symlink_to(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    old = tmp_path / "old"  # runs the code it is given (the last argument) as Python 3.9 would
    old.write_text(
        "#!/bin/sh\nfor code; do :; done\n"
        f'exec {new} -I -S -c "import sys; sys.version_info = (3, 9, 2); exec(sys.argv[1])" "$code"\n'
    )
    no_venv = tmp_path / "no-venv"
    no_venv.write_text('#!/bin/sh\ncase "$*" in *ensurepip*) exit 1 ;; esac\nexit 0\n')
    for script in (old, no_venv):
        script.chmod(0o755)
    return {"new": new, "old": old, "no-venv": no_venv, "absent": tmp_path / "absent"}


@pytest.mark.parametrize(
    "debian, as_root, picked",
    [
        ("new", "yes", "debian"),
        ("new", "", "debian"),
        ("no-venv", "yes", "debian"),  # host-packages.sh installs python3-venv for it
        ("no-venv", "", "python3"),  # cannot: the python3 on PATH builds the venv, as before
        ("old", "yes", "python3"),
        ("absent", "yes", "python3"),
    ],
)
def test_the_venv_is_built_on_debians_python3_where_it_can_be(
    interpreters, debian, as_root, picked
):
    path = interpreters[debian]
    found = python_the_makefile_picks(f"DEBIAN_PYTHON={path}", f"AS_ROOT={as_root}")
    assert found == (str(path) if picked == "debian" else "python3")


def test_debians_python3_is_the_one_its_python3_package_installs():
    assert python_the_makefile_picks(variable="DEBIAN_PYTHON") == "/usr/bin/python3"


def test_the_operators_python_wins_from_the_environment_or_the_command_line():
    assert python_the_makefile_picks(PYTHON="python3.12") == "python3.12"
    assert python_the_makefile_picks("PYTHON=/opt/py/bin/python3") == "/opt/py/bin/python3"
