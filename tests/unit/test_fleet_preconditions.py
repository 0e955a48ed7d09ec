"""devfleet's bad conditions: one clear line and a non-zero exit, before anything is touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.support.units import ROOT

FLEET = ["-m", "devfleet"]


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to another user"
)
def test_not_root_is_one_line():
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            *FLEET,
            "up",
            "--nodes",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and "needs root" in lines[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="the root check comes first")
def test_missing_host_package_names_it_and_the_install_command(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "SENTINELCAM_FLEET_DIR": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, *FLEET, "up", "--nodes", "3"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode != 0
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1
    assert (
        "missing host package(s)" in lines[0]
        and "systemd-container" in lines[0]
        and "apt-get install -y" in lines[0]
    )
    assert not (tmp_path / "state").exists()
