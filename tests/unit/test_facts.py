"""Custom facts: the commands they build and the parsing of real output from those commands."""

from __future__ import annotations

import hashlib
import subprocess

from facts.configs import FileDigests
from facts.models import Facelist, InstalledModels, StoreManifests


def run_fact(fact, **kwargs):
    """Run the fact's real command with sh on this machine and process its output."""
    command = fact.command(**kwargs).get_raw_value()
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines() if line]
    return fact.process(lines) if lines else fact.default()


def make_version(root, model, version, files, manifest_files=None):
    d = root / model / version
    d.mkdir(parents=True)
    entries = []
    for name, data in files.items():
        (d / name).write_bytes(data)
    for name in manifest_files or files:
        entries.append(f"{hashlib.sha256(files.get(name, b'')).hexdigest()}  {name}\n")
    (d / "MANIFEST.sha256").write_text("".join(sorted(entries, key=lambda e: e.split("  ")[1])))
    return hashlib.sha256((d / "MANIFEST.sha256").read_bytes()).hexdigest()


def test_installed_models_reports_versions_digests_completeness_and_staging(tmp_path):
    digest = make_version(tmp_path, "haarcascades", "2020-12-06", {"haarcascade_eye.xml": b"x"})
    make_version(tmp_path, "face_recognition", "2026-02-02", {"facemodel.pickle": b"a"},
                 manifest_files=["facemodel.pickle", "baselines.hdf5"])
    (tmp_path / "face_recognition" / ".2026-03-01.partial").mkdir()
    (tmp_path / "face_recognition" / "2025-01-01").mkdir()  # no manifest
    (tmp_path / "face_recognition" / "notes").mkdir()       # not a version: ignored
    fact = run_fact(InstalledModels(), models_path=str(tmp_path))
    assert fact["haarcascades"] == {"versions": {"2020-12-06": {"digest": digest, "complete": True}}, "staging": []}
    fr = fact["face_recognition"]
    assert fr["versions"]["2026-02-02"]["complete"] is False
    assert fr["versions"]["2025-01-01"] == {"digest": None, "complete": False}
    assert fr["staging"] == [".2026-03-01.partial"]
    assert "notes" not in fr["versions"]


def test_installed_models_on_a_node_without_models_is_empty(tmp_path):
    assert run_fact(InstalledModels(), models_path=str(tmp_path / "absent")) == {}


def test_installed_models_quotes_the_path():
    command = str(InstalledModels().command(models_path="/home/ops/it's here"))
    assert command.startswith("root='/home/ops/it'\"'\"'s here'")


def test_store_manifests(tmp_path):
    digest = make_version(tmp_path, "haarcascades", "2020-12-06", {"haarcascade_eye.xml": b"x"})
    fact = run_fact(StoreManifests(), store=str(tmp_path), wanted=["haarcascades/2020-12-06", "haarcascades/2019-01-01"])
    assert fact == {"haarcascades/2020-12-06": digest, "haarcascades/2019-01-01": None}
    assert run_fact(StoreManifests(), store=str(tmp_path / "nope"), wanted=["a/2020-01-01"]) == {"__nostore__": None}


def test_file_digests(tmp_path):
    (tmp_path / "a.yaml").write_text("a: 1\n")
    fact = run_fact(FileDigests(), paths=[str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    assert fact == {str(tmp_path / "a.yaml"): hashlib.sha256(b"a: 1\n").hexdigest(), str(tmp_path / "b.yaml"): None}


def test_facelist(tmp_path):
    (tmp_path / "facelist_2026-02-02.csv").write_text("x")
    (tmp_path / "facedata_2026-02-02.hdf5").write_text("x")
    (tmp_path / "facelist_current.csv").symlink_to("facelist_2026-02-02.csv")
    fact = run_fact(Facelist(), directory=str(tmp_path))
    assert fact == {"files": ["facedata_2026-02-02.hdf5", "facelist_2026-02-02.csv"], "current": "facelist_2026-02-02.csv"}


def test_node_models_installed_active_and_deep(tmp_path):
    from facts.models import NodeModels

    sentinel = tmp_path / "sentinel"
    make_version(sentinel, "haarcascades", "2020-12-06", {"haarcascade_eye.xml": b"x"})
    make_version(sentinel, "face_recognition", "2026-02-02", {"facemodel.pickle": b"m", "facelist.csv": b"l"})
    (sentinel / "face_recognition" / "2026-02-02" / "facelist.csv").write_text("curated")  # node-owned: not corrupt
    make_version(sentinel, "face_recognition", "2025-02-25", {"facemodel.pickle": b"old"})
    (sentinel / "face_recognition" / "2025-02-25" / "facemodel.pickle").write_bytes(b"flipped")
    config = tmp_path / "FaceRecon.yaml"
    config.write_text(f"recognizer: {sentinel}/face_recognition/2026-02-02/facemodel.pickle\n"
                      f"eye: {sentinel}/haarcascades/2020-12-06/haarcascade_eye.xml\n")
    pump = tmp_path / "datapump.yaml"
    pump.write_text("faces_data_file: /home/ops/sentinelcam/face_recognition/facelist_2026-02-02.csv\n")
    kwargs = dict(models_paths=[str(sentinel), str(tmp_path / "imagenode")],
                  configs=[str(config), str(pump), str(tmp_path / "absent.yaml")], services=[])
    fact = run_fact(NodeModels(), **kwargs)
    assert set(fact["installed"]) == {str(sentinel), str(tmp_path / "imagenode")}
    assert fact["installed"][str(tmp_path / "imagenode")] == {}
    assert fact["installed"][str(sentinel)]["haarcascades"]["versions"]["2020-12-06"] == {
        "digest": fact["installed"][str(sentinel)]["haarcascades"]["versions"]["2020-12-06"]["digest"], "complete": True}
    assert sorted(fact["active"][str(config)]) == [f"{sentinel}/face_recognition/2026-02-02/", f"{sentinel}/haarcascades/2020-12-06/"]
    assert fact["active"][str(pump)] == ["facelist_2026-02-02.csv"]
    deep = run_fact(NodeModels(), deep=True, **kwargs)
    versions = deep["installed"][str(sentinel)]["face_recognition"]["versions"]
    assert versions["2026-02-02"]["intact"] is True
    assert versions["2025-02-25"]["intact"] is False


def test_config_references_reads_the_configs_themselves(tmp_path):
    from facts.models import ConfigReferences

    config = tmp_path / "GetFaces.yaml"
    config.write_text("model: /home/ops/sentinel/models/face_detection/2020-12-06/deploy.prototxt\n"
                      "other: /home/ops/sentinel/models/face_detection/2020-12-06/res10.caffemodel\n")
    assert run_fact(ConfigReferences(), configs=[str(config), str(tmp_path / "absent.yaml")]) == [
        "/home/ops/sentinel/models/face_detection/2020-12-06/"]


def test_store_version_check(tmp_path):
    from facts.models import StoreVersionCheck

    make_version(tmp_path, "haarcascades", "2020-12-06", {"haarcascade_eye.xml": b"x"})
    assert run_fact(StoreVersionCheck(), store=str(tmp_path), model="haarcascades", version="2020-12-06") == "ok"
    (tmp_path / "haarcascades" / "2020-12-06" / "haarcascade_eye.xml").write_bytes(b"y")
    assert run_fact(StoreVersionCheck(), store=str(tmp_path), model="haarcascades", version="2020-12-06") == "mismatch"
    assert run_fact(StoreVersionCheck(), store=str(tmp_path), model="haarcascades", version="2019-01-01") == "missing"


def test_config_references_include_directories_named_without_a_trailing_slash(tmp_path):
    from facts.models import ConfigReferences

    config = tmp_path / "imagenode.yaml"
    config.write_text("detectors:\n  face_detection:\n    model_path: /home/ops/imagenode/models/face_detection/2025-01-01\n")
    assert run_fact(ConfigReferences(), configs=[str(config)]) == ["/home/ops/imagenode/models/face_detection/2025-01-01/"]


def test_installed_models_deep_rehashes(tmp_path):
    make_version(tmp_path, "haarcascades", "2020-12-06", {"haarcascade_eye.xml": b"x"})
    assert run_fact(InstalledModels(), models_path=str(tmp_path), deep=True)["haarcascades"]["versions"]["2020-12-06"]["intact"] is True
    (tmp_path / "haarcascades" / "2020-12-06" / "haarcascade_eye.xml").write_bytes(b"y")
    assert run_fact(InstalledModels(), models_path=str(tmp_path), deep=True)["haarcascades"]["versions"]["2020-12-06"]["intact"] is False
    assert "intact" not in run_fact(InstalledModels(), models_path=str(tmp_path))["haarcascades"]["versions"]["2020-12-06"]
