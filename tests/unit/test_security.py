"""Security findings of issue 23, each reproduced: paths that once ran code, answers that once
stopped the whole fleet, files that once changed under the tool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyinfra.api import Inventory

from sentinelcam_models.fleet.remote import RemoteStore

# --- 23.1: a published directory's name never reaches a shell -------------------------------


def fake_rsync(bin_dir: Path, log: Path) -> None:
    bin_dir.mkdir(exist_ok=True)
    rsync = bin_dir / "rsync"
    rsync.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {log}\n')
    rsync.chmod(0o755)


@pytest.mark.parametrize(
    "name", ["x;touch PWNED;", "with space", "$(touch PWNED)", "-rf", "a'b\"c"]
)
def test_a_remote_publish_passes_the_directory_to_rsync_as_one_argument(
    tmp_path, monkeypatch, name
):
    from sentinelcam_models.core.settings import HostSettings  # noqa: PLC0415

    bin_dir, log = tmp_path / "bin", tmp_path / "argv"
    fake_rsync(bin_dir, log)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    src = work / name
    src.mkdir()
    inventory = Inventory((["data1"], {}))
    host = inventory.get_host("data1")
    settings = object.__new__(HostSettings)
    remote = object.__new__(RemoteStore)
    remote.host, remote.settings = host, settings
    remote.root, remote.where = "/home/ops/model_registry", "data1:/home/ops/model_registry"
    monkeypatch.setattr(RemoteStore, "connector_args", lambda self: {})
    upload = remote.upload(src)
    assert not list(work.glob("PWNED")) and not list(Path.cwd().glob("PWNED"))
    argv = log.read_text().splitlines()
    assert f"{src}/" in argv  # the whole path, one argument
    assert argv[-1] == f"data1:/home/ops/model_registry/{upload}/"
