"""The CLI surface of the registry core: exit codes and one line per problem."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sentinelcam_models.cli import main

from tests.support.units import ROOT


@pytest.fixture
def inv(tmp_path):
    """A private copy of the shipped inventories, safe to break."""
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    return tmp_path / "inventories" / "production.py"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_validate_shipped_inventory_passes():
    proc = subprocess.run([sys.executable, "-m", "sentinelcam_models", "validate"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "9 models" in proc.stdout


def test_validate_broken_copy_lists_every_problem_and_exits_2(inv):
    registry = inv.parent / "group_data" / "model_registry.yaml"
    registry.write_text(registry.read_text().replace('"2026-02-02"', '"2026-02-30"'))
    (inv.parent / "host_data" / "sentinel2.yaml").write_text('model_version_overrides:\n  yolo: "2025-01-01"\n')
    result = run("validate", "-i", inv)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert any(f"{registry}:" in line and "face_recognition.current_version" in line for line in lines)
    assert any("host sentinel2: model_version_overrides.yolo: pins unknown model" in line for line in lines)
    assert "Traceback" not in result.output


def test_publish_verify_list_through_cli(inv, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "haarcascade_eye.xml").write_text("<opencv/>")
    store = tmp_path / "store"
    assert run("publish", "haarcascades", src, "--version", "2020-12-06", "--store", store).exit_code == 0
    assert run("publish", "haarcascades", src, "--version", "2020-12-06", "--store", store).exit_code != 0
    assert run("verify", "haarcascades", "--store", store).exit_code == 0
    (store / "haarcascades" / "2020-12-06" / "haarcascade_eye.xml").write_text("<evil/>")
    bad = run("verify", "--store", store)
    assert bad.exit_code == 1 and "altered haarcascade_eye.xml" in bad.output
    listed = run("list", "face_recognition", "--json", "-i", inv, "--store", store)
    doc = json.loads(listed.output)
    marks = {row["version"]: row["marks"] for row in doc["versions"]}
    assert marks == {"2026-02-02": ["CURRENT"], "2025-02-25": ["PREVIOUS"]}


def test_list_marks_pins_by_host(inv, tmp_path):
    (inv.parent / "host_data" / "east.yaml").write_text('model_version_overrides:\n  mobilenet_ssd: "2019-01-01"\n')
    doc = json.loads(run("list", "mobilenet_ssd", "--json", "-i", inv, "--store", tmp_path).output)
    pinned = [row for row in doc["versions"] if row["version"] == "2019-01-01"][0]
    assert pinned["pinned_by"] == ["east"] and not pinned["in_store"]
