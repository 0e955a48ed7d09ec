"""Retention selection (pure) and the store cleanup on a real directory tree."""

from __future__ import annotations

import json
import subprocess
import sys

from sentinelcam_models import retention, store

V = ["2024-01-01", "2024-06-01", "2025-01-01", "2025-02-25", "2025-06-01", "2025-09-01", "2026-01-01", "2026-02-02"]


def test_keeps_current_previous_pins_and_n_newest_others():
    d = retention.choose("fr", V, "2026-02-02", "2025-02-25", {"2024-01-01": ["sentinel2"]}, 2)
    assert d.keep == {"2026-02-02": "current", "2026-01-01": "newest", "2025-09-01": "newest",
                      "2025-02-25": "previous", "2024-01-01": "pinned by sentinel2"}
    assert d.remove == ["2025-06-01", "2025-01-01", "2024-06-01"]


def test_null_previous_and_fewer_versions_than_n():
    d = retention.choose("m", ["2020-12-06", "2021-01-01"], "2021-01-01", None, {}, 5)
    assert d.remove == [] and set(d.keep) == {"2020-12-06", "2021-01-01"}


def test_pin_equal_to_current_counts_once_and_keep_zero():
    d = retention.choose("m", V, "2026-02-02", None, {"2026-02-02": ["a", "b"]}, 0)
    assert d.keep == {"2026-02-02": "current; pinned by a, b"}
    assert len(d.remove) == len(V) - 1


def test_cleanup_ignores_unknown_entries_and_coral(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(b"x" * 100)
    root = tmp_path / "store"
    for v in ("2024-01-01", "2025-01-01", "2026-01-01"):
        store.publish(root, "haarcascades", src, v)
    (root / "haarcascades" / ".tmp").mkdir()
    (root / "haarcascades" / "README").write_text("keep me")
    (root / "haarcascades" / "2025-13-01").mkdir()  # not a real date: not a version, untouched
    (root / "coral_packages").mkdir()
    (root / "coral_packages" / "2020-01-01").mkdir()
    policy = {"keep": 0, "models": {"haarcascades": {"current_version": "2026-01-01", "previous_version": None,
                                                      "pins": {"2024-01-01": ["east"]}}}}
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    dry = subprocess.run([sys.executable, retention.__file__, "--store", str(root), "--policy", str(tmp_path / "policy.json"),
                          "--dry-run"], capture_output=True, text=True, check=True)
    assert "would remove haarcascades/2025-01-01" in dry.stdout
    assert (root / "haarcascades" / "2025-01-01").is_dir()
    log = tmp_path / "logs" / "model_cleanup.log"
    subprocess.run([sys.executable, retention.__file__, "--store", str(root), "--policy", str(tmp_path / "policy.json"),
                    "--log", str(log)], check=True, capture_output=True)
    assert sorted(p.name for p in (root / "haarcascades").iterdir()) == [".tmp", "2024-01-01", "2025-13-01", "2026-01-01", "README"]
    assert (root / "coral_packages" / "2020-01-01").is_dir()
    text = log.read_text()
    assert "remove haarcascades/2025-01-01" in text and "keep   haarcascades/2024-01-01 (pinned by east)" in text
    assert "freed" in text


def test_cleanup_sweeps_leftovers_of_interrupted_publish_and_delete(tmp_path):
    root = tmp_path / "store"
    (root / "haarcascades" / ".2020-01-01.deleting").mkdir(parents=True)
    (root / "haarcascades" / ".2020-02-01.publish-4242").mkdir()
    (root / "haarcascades" / ".keepme").mkdir()
    retention.cleanup(root, {"models": {}}, 5, dry_run=False, log=lambda line: None)
    assert sorted(p.name for p in (root / "haarcascades").iterdir()) == [".keepme"]
