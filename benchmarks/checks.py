"""What the model file format checks cost at publish (issue 25: at most 10%).

Publishes the real-size demo store (every current and previous version of every model in the
shipped registry, files at their catalog sizes, written by devfleet.modelgen) into a fresh store,
REPEAT times with the checks and REPEAT times without them (the store's format check replaced by
one that finds nothing), interleaved, and reports the medians and their ratio. The checks' own
time per format is measured on the same files. With a local fleet up, the face model pickle and
HDF5 files are the ones a node's scikit-learn and h5py wrote; without one, their stand-ins.

    .venv/bin/python benchmarks/checks.py          # REPEAT=5 by default
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median, ratio
from devfleet import demo
from sentinelcam_models.core import catalog, modelfiles
from sentinelcam_models.store import publish
from sentinelcam_models.store.local import LocalStore

REPEAT = int(os.environ.get("REPEAT", "5"))
RESULTS = Path(__file__).with_name("results-checks.json")


def sources(root: Path) -> list[tuple[str, str, Path, list[str]]]:
    """Every registry version's files at real size, written once."""
    registry = demo.load_registry()
    out = []
    for entry in registry.models.values():
        for version in entry.versions:
            directory = root / entry.name / version
            directory.mkdir(parents=True)
            for name, size in demo.demo_files(registry, entry.name).items():
                (directory / name).write_bytes(demo.model_bytes(entry.name, version, name, size))
            required = list(catalog.spec(entry.name).required_files(entry.variants))
            out.append((entry.name, version, directory, required))
    return out


def publish_all(items, checks: bool) -> float:
    store_root = Path(tempfile.mkdtemp(prefix="bench-store-"))
    original = publish._format_faults  # looked up there by Publishing.publish
    if not checks:
        publish._format_faults = lambda top_fd, files: []
    try:
        start = time.perf_counter()
        store = LocalStore(store_root)
        for model, version, directory, required in items:
            store.publish(model, version, directory, required)
        return time.perf_counter() - start
    finally:
        publish._format_faults = original
        shutil.rmtree(store_root)


def per_format(items) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for _, _, directory, _ in items:
        for path in sorted(directory.iterdir()):
            data = path.read_bytes()
            fmt = modelfiles.file_format(path.name) or "none"
            start = time.perf_counter()
            modelfiles.check_file(path.name, io.BytesIO(data), len(data))
            seconds[fmt] = seconds.get(fmt, 0.0) + time.perf_counter() - start
    return {k: round(v, 4) for k, v in sorted(seconds.items())}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
        items = sources(Path(tmp))
        size = sum(p.stat().st_size for _, _, d, _ in items for p in d.iterdir())
        publish_all(items, True)  # warm the page cache and the imports
        with_checks, without = [], []
        for _ in range(REPEAT):
            without.append(publish_all(items, False))
            with_checks.append(publish_all(items, True))
        results = {
            "versions": len(items),
            "bytes": size,
            "repeat": REPEAT,
            "publish_without_checks_s": round(median(without), 3),
            "publish_with_checks_s": round(median(with_checks), 3),
            "with_over_without": ratio(median(with_checks), median(without)),
            "check_seconds_per_format": per_format(items),
        }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
