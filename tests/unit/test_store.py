"""The version store: publish writes atomically with a manifest; verify catches every change."""

from __future__ import annotations

import os
import subprocess

import pytest

from sentinelcam_models import store
from sentinelcam_models.problems import OperatorError


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    (d / "sub").mkdir(parents=True)
    (d / "facemodel.pickle").write_bytes(os.urandom(4096))
    (d / "baselines.hdf5").write_bytes(b"baseline")
    (d / "sub" / "labels.txt").write_text("person\n")
    return d


def test_publish_verify_round_trip_and_manifest_checks_with_sha256sum(tmp_path, src):
    root = tmp_path / "store"
    target = store.publish(root, "face_recognition", src, "2026-02-02")
    assert target == root / "face_recognition" / "2026-02-02"
    manifest = (target / store.MANIFEST).read_text().splitlines()
    assert [line.split("  ")[1] for line in manifest] == ["baselines.hdf5", "facemodel.pickle", "sub/labels.txt"]
    assert store.verify_version(root, "face_recognition", "2026-02-02").ok
    # The manifest is plain sha256sum format: a node checks it with no Python.
    subprocess.run(["sha256sum", "-c", "--quiet", store.MANIFEST], cwd=target, check=True)
    assert [p.name for p in (root / "face_recognition").iterdir()] == ["2026-02-02"]  # no staging left


def test_verify_catches_flipped_byte_deleted_and_added_file(tmp_path, src):
    root = tmp_path / "store"
    target = store.publish(root, "face_recognition", src, "2026-02-02")
    data = bytearray((target / "facemodel.pickle").read_bytes())
    data[100] ^= 0x01
    (target / "facemodel.pickle").write_bytes(bytes(data))
    (target / "baselines.hdf5").unlink()
    (target / "extra.bin").write_bytes(b"x")
    result = store.verify_version(root, "face_recognition", "2026-02-02")
    assert (result.altered, result.missing, result.extra) == (["facemodel.pickle"], ["baselines.hdf5"], ["extra.bin"])
    assert not result.ok


def test_publish_refuses_to_overwrite(tmp_path, src):
    root = tmp_path / "store"
    store.publish(root, "haarcascades", src, "2020-12-06")
    before = (root / "haarcascades" / "2020-12-06" / store.MANIFEST).read_bytes()
    (src / "facemodel.pickle").write_bytes(b"changed")
    with pytest.raises(OperatorError, match="already exists"):
        store.publish(root, "haarcascades", src, "2020-12-06")
    assert (root / "haarcascades" / "2020-12-06" / store.MANIFEST).read_bytes() == before


def test_publish_refuses_symlinks_and_bad_names(tmp_path, src):
    (src / "escape").symlink_to("/etc/passwd")
    with pytest.raises(OperatorError, match="symlinks are refused"):
        store.publish(tmp_path / "store", "haarcascades", src, "2020-12-06")
    (src / "escape").unlink()
    with pytest.raises(OperatorError, match="not a valid version"):
        store.publish(tmp_path / "store", "haarcascades", src, "2020-02-30")
    with pytest.raises(OperatorError, match="model names"):
        store.publish(tmp_path / "store", "../evil", src, "2020-02-03")
    assert not (tmp_path / "store" / "haarcascades").exists()


def test_crash_during_publish_leaves_no_version(tmp_path, src, monkeypatch):
    root = tmp_path / "store"

    def boom(*_):
        raise RuntimeError("disk pulled")

    monkeypatch.setattr(store.os, "rename", boom)
    with pytest.raises(RuntimeError):
        store.publish(root, "haarcascades", src, "2020-12-06")
    assert list((root / "haarcascades").iterdir()) == []


def test_versions_in_store_newest_first_ignores_other_entries(tmp_path, src):
    root = tmp_path / "store"
    for version in ("2024-01-01", "2026-01-01", "2025-01-01"):
        store.publish(root, "haarcascades", src, version)
    (root / "haarcascades" / ".tmp").mkdir()
    (root / "haarcascades" / "README").write_text("x")
    (root / "coral_packages").mkdir()
    assert [v.version for v in store.versions_in_store(root, "haarcascades")] == ["2026-01-01", "2025-01-01", "2024-01-01"]
    assert store.models_in_store(root) == ["haarcascades"]
