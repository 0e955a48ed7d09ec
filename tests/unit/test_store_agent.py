"""The store agent: one command, JSON in, exactly one JSON document out; and its bundle, run the
way the datasink runs it (``python3 -I -S -c PROGRAM COMMAND JSON``) in a real subprocess."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from facts.shell import PYTHON
from sentinelcam_models.core.manifest import MANIFEST
from sentinelcam_models.store import agent
from sentinelcam_models.store.bundle import bundle_source
from sentinelcam_models.store.local import LocalStore
from tests.support.imports import imported_modules
from tests.support.models import valid


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "model_registry"
    path.mkdir()
    return path


CASCADE = valid("haarcascade_eye.xml")
TFLITE = valid("model.tflite")


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "haarcascade_eye.xml").write_bytes(CASCADE)
    return d


def call(capsys, command: str, args: object) -> tuple[int, dict]:
    code = agent.main([command, args if isinstance(args, str) else json.dumps(args)])
    out, err = capsys.readouterr()
    assert err == ""  # never a traceback
    assert out.count("\n") == 1  # exactly one document, one line
    return code, json.loads(out)


def test_exists_and_versions(capsys, root, src):
    LocalStore(root).publish("haarcascades", "2020-12-06", src, [])
    assert call(capsys, "exists", {"store": str(root)}) == (0, {"ok": True, "result": True})
    assert call(capsys, "exists", {"store": str(root / "x")}) == (0, {"ok": True, "result": False})
    code, doc = call(capsys, "versions", {"store": str(root), "model": "haarcascades"})
    size = len(CASCADE) + len((root / "haarcascades" / "2020-12-06" / MANIFEST).read_bytes())
    assert (code, doc) == (
        0,
        {
            "ok": True,
            "result": [
                {
                    "model": "haarcascades",
                    "version": "2020-12-06",
                    "size": size,
                    "has_manifest": True,
                }
            ],
        },
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["versions"], "usage: COMMAND JSON_ARGUMENTS"),
        (["rm_rf", "{}"], "unknown command 'rm_rf'"),
        (["versions", "{not json"], "versions: arguments are not JSON"),
        (["versions", "[]"], "versions: arguments must be a JSON object"),
        (["versions", '{"model": "m"}'], "versions: argument 'store' is missing"),
        (["versions", '{"store": "relative", "model": "m"}'], "'store' must be an absolute path"),
        (["versions", '{"store": "/x", "model": "m", "force": true}'], "unknown argument 'force'"),
        (["versions", '{"store": "/x", "model": 3}'], "argument 'model' must be a string"),
        (
            ["cleanup", '{"store": "/x", "dry_run": true}'],
            "exactly one of 'policy' and 'policy_file'",
        ),
    ],
)
def test_bad_arguments_are_one_line_errors_with_exit_2(capsys, argv, expected):
    code = agent.main(argv)
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 2 and err == ""
    assert doc["ok"] is False and doc["exit_code"] == 2
    assert expected in doc["error"] and "\n" not in doc["error"]


def test_operator_errors_carry_their_exit_code(capsys, tmp_path):
    code, doc = call(capsys, "versions", {"store": str(tmp_path / "nope"), "model": "m"})
    assert (code, doc) == (
        2,
        {"ok": False, "error": f"{tmp_path / 'nope'}: no model store here", "exit_code": 2},
    )
    assert not (tmp_path / "nope").exists()


def test_an_unexpected_exception_is_one_line_with_its_type(capsys, root, monkeypatch):
    def boom(self, model):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(LocalStore, "versions", boom)
    code, doc = call(capsys, "versions", {"store": str(root), "model": "m"})
    assert (code, doc) == (
        1,
        {"ok": False, "error": "RuntimeError: disk on fire\\nsecond line", "exit_code": 1},
    )


def test_verify_and_check_report_problems_as_results(capsys, root, src):
    LocalStore(root).publish("haarcascades", "2020-12-06", src, [])
    version = root / "haarcascades" / "2020-12-06"
    digest = sha((version / MANIFEST).read_bytes())
    code, doc = call(
        capsys,
        "check",
        {
            "store": str(root),
            "wanted": ["haarcascades/2020-12-06"],
            "required": {"haarcascades": ["haarcascade_eye.xml"]},
        },
    )
    assert (code, doc["result"]) == (
        0,
        {"haarcascades/2020-12-06": {"digest": digest, "problems": []}},
    )
    (version / "haarcascade_eye.xml").write_bytes(b"altered")
    code, doc = call(
        capsys, "verify", {"store": str(root), "model": "haarcascades", "version": "2020-12-06"}
    )
    assert code == 0 and doc["ok"] is True
    assert doc["result"]["ok"] is False
    assert doc["result"]["altered"] == ["haarcascade_eye.xml"]
    assert doc["result"]["lines"] == [
        "haarcascades/2020-12-06: altered haarcascade_eye.xml (sha256 differs from MANIFEST.sha256)"
    ]


def _two_versions(root: Path, src: Path) -> None:
    store = LocalStore(root)
    store.publish("haarcascades", "2020-12-06", src, [])
    store.publish("haarcascades", "2021-01-01", src, [])


POLICY = {
    "keep": 0,
    "models": {
        "haarcascades": {"current_version": "2021-01-01", "previous_version": None, "pins": {}}
    },
}


def test_cleanup_returns_its_log_and_appends_the_log_file(capsys, root, src, tmp_path):
    _two_versions(root, src)
    (tmp_path / "policy.json").write_text(json.dumps(POLICY))
    log_file = tmp_path / "model_cleanup.log"
    code, doc = call(
        capsys,
        "cleanup",
        {"store": str(root), "dry_run": True, "policy_file": str(tmp_path / "policy.json")},
    )
    assert code == 0 and (root / "haarcascades" / "2020-12-06").is_dir()
    assert doc["result"]["log"][0] == "keep   haarcascades/2021-01-01 (current)"
    code, doc = call(
        capsys, "cleanup", {"store": str(root), "policy": POLICY, "log_file": str(log_file)}
    )
    assert code == 0 and not (root / "haarcascades" / "2020-12-06").exists()
    assert doc["result"]["freed"] > 0
    assert doc["result"]["log"][-1] == f"freed {doc['result']['freed']} bytes"
    assert "remove haarcascades/2020-12-06" in log_file.read_text()


def test_cleanup_refuses_a_bad_policy_or_keep_and_removes_nothing(capsys, root, src):
    _two_versions(root, src)
    code, doc = call(capsys, "cleanup", {"store": str(root), "policy": {**POLICY, "keep": -3}})
    assert code == 2 and "keep must be a whole number >= 0" in doc["error"]
    code, doc = call(capsys, "cleanup", {"store": str(root), "policy": POLICY, "keep": -3})
    assert code == 2 and "'keep' must be a whole number >= 0" in doc["error"]
    assert (root / "haarcascades" / "2020-12-06").is_dir()


def test_adopt_install_coral_coral_files_and_write_policy(capsys, root, tmp_path):
    legacy = root / "haarcascades" / "2019-01-01"
    legacy.mkdir(parents=True)
    (legacy / "haarcascade_eye.xml").write_bytes(CASCADE)
    code, doc = call(
        capsys,
        "adopt",
        {
            "store": str(root),
            "models": ["haarcascades"],
            "required": {"haarcascades": ["haarcascade_eye.xml"]},
        },
    )
    assert code == 0 and [r["status"] for r in doc["result"]] == ["adopted"]
    assert (legacy / MANIFEST).read_text() == f"{sha(CASCADE)}  haarcascade_eye.xml\n"

    staged = tmp_path / "download"
    staged.mkdir()
    (staged / "pycoral.whl").write_bytes(b"wheel")
    code, doc = call(
        capsys,
        "install_coral",
        {"store": str(root), "staged": str(staged), "files": {"pycoral.whl": sha(b"wheel")}},
    )
    assert (code, doc["result"]) == (0, ["pycoral.whl"])
    code, doc = call(capsys, "coral_files", {"store": str(root)})
    assert doc["result"] == {"pycoral.whl": sha(b"wheel")}

    data_path = tmp_path
    path = tmp_path / "model_retention_policy.json"
    code, doc = call(
        capsys,
        "write_policy",
        {"store": str(root), "path": str(path), "policy": POLICY, "data_path": str(data_path)},
    )
    assert (code, doc["result"]) == (0, str(path))
    assert json.loads(path.read_text()) == POLICY


# --- the bundle, as the datasink runs it ----------------------------------------------------


@pytest.fixture(scope="module")
def program() -> str:
    return bundle_source()


def run_bundle(program: str, cwd: Path, command: str, args: dict) -> tuple[int, dict]:
    # As nodes run it (facts.shell.PYTHON): -S, no site-packages, so nothing of this project (nor
    # any third-party library) is importable except what the program carries; -I, not even from
    # the working directory, which holds a decoy package.
    proc = subprocess.run(
        [sys.executable, *PYTHON[1:], "-c", program, command, json.dumps(args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stderr == ""
    assert proc.stdout.count("\n") == 1
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def elsewhere(tmp_path):
    """A working directory whose own ``sentinelcam_models`` would fail if it were imported."""
    cwd = tmp_path / "cwd"
    (cwd / "sentinelcam_models").mkdir(parents=True)
    (cwd / "sentinelcam_models" / "__init__.py").write_text("raise ImportError('decoy')\n")
    return cwd


def test_the_bundle_is_one_self_contained_program_under_100_kb(program):
    assert len(program.encode("utf-8")) < 100_000
    assert program == bundle_source()  # deterministic: same sources, same program
    compile(program, "<bundle>", "exec")


def test_bundle_end_to_end_versions_verify_finish_publish(program, root, elsewhere):
    upload = root / ".upload-e2e"
    (upload / "sub").mkdir(parents=True)
    (upload / "model.tflite").write_bytes(TFLITE)
    (upload / "sub" / "labels.txt").write_bytes(b"person\n")

    code, doc = run_bundle(
        program,
        elsewhere,
        "finish_publish",
        {
            "store": str(root),
            "model": "mobilenet_ssd_edgetpu",
            "version": "2025-06-01",
            "staged": str(upload),
            "required": ["model.tflite"],
        },
    )
    manifest = (
        f"{sha(TFLITE)}  model.tflite\n{sha(b'person' + bytes([10]))}  sub/labels.txt\n"
    ).encode()
    target = root / "mobilenet_ssd_edgetpu" / "2025-06-01"
    assert (code, doc) == (
        0,
        {"ok": True, "result": {"path": str(target), "manifest_digest": sha(manifest)}},
    )
    assert (target / MANIFEST).read_bytes() == manifest
    assert not upload.exists()

    code, doc = run_bundle(
        program, elsewhere, "versions", {"store": str(root), "model": "mobilenet_ssd_edgetpu"}
    )
    assert (code, doc) == (
        0,
        {
            "ok": True,
            "result": [
                {
                    "model": "mobilenet_ssd_edgetpu",
                    "version": "2025-06-01",
                    "size": len(TFLITE) + len(b"person\n") + len(manifest),
                    "has_manifest": True,
                }
            ],
        },
    )

    code, doc = run_bundle(
        program,
        elsewhere,
        "verify",
        {"store": str(root), "model": "mobilenet_ssd_edgetpu", "version": "2025-06-01"},
    )
    assert (code, doc) == (
        0,
        {
            "ok": True,
            "result": {
                "model": "mobilenet_ssd_edgetpu",
                "version": "2025-06-01",
                "ok": True,
                "missing": [],
                "extra": [],
                "altered": [],
                "problems": [],
                "lines": ["mobilenet_ssd_edgetpu/2025-06-01: ok"],
            },
        },
    )


def test_bundle_end_to_end_refusals(program, root, elsewhere):
    upload = root / ".upload-e2e"
    upload.mkdir()
    (upload / "model.tflite").write_bytes(TFLITE)
    code, doc = run_bundle(
        program,
        elsewhere,
        "finish_publish",
        {
            "store": str(root),
            "model": "face_recognition",
            "version": "2026-03-01",
            "staged": str(upload),
            "required": ["facelist.csv", "facedata.hdf5"],
        },
    )
    assert (code, doc) == (
        2,
        {
            "ok": False,
            "exit_code": 2,
            "error": (
                "face_recognition/2026-03-01 lacks facelist.csv, facedata.hdf5 (the configs name them)"
            ),
        },
    )
    assert sorted(p.name for p in root.iterdir()) == [".lock"]

    code, doc = run_bundle(
        program, elsewhere, "versions", {"store": str(root / "absent"), "model": "m"}
    )
    assert (code, doc["exit_code"]) == (2, 2) and "no model store here" in doc["error"]


def test_bundle_refuses_a_file_that_is_not_its_format_and_verify_deep_checks_it(
    program, root, elsewhere
):
    # The datasink's python3 alone (-S) runs the format checks: the upload is refused and removed.
    upload = root / ".upload-html"
    upload.mkdir()
    (upload / "facemodel.pickle").write_bytes(valid("facemodel.pickle"))
    (upload / "baselines.hdf5").write_bytes(b"<!DOCTYPE html><html><body>404</body></html>\n")
    args = {"store": str(root), "model": "face_recognition", "version": "2026-03-01"}
    code, doc = run_bundle(
        program, elsewhere, "finish_publish", {**args, "staged": str(upload), "required": []}
    )
    assert (code, doc["exit_code"]) == (2, 2)
    assert doc["error"] == (
        "face_recognition/2026-03-01: baselines.hdf5: not a valid HDF5 file: no HDF5 signature "
        "(starts b'<!DOCTYP'); nothing published"
    )
    assert not upload.exists() and not (root / "face_recognition" / "2026-03-01").exists()
    code, doc = run_bundle(program, elsewhere, "verify", {**args, "deep": True})
    assert code == 0 and doc["result"]["problems"] == ["not in the store"]


def bundle_imports(program: str, cwd: Path, command: str, args: dict) -> set[str]:
    """The modules the bundle imported to run ``command`` (python's own ``-X importtime`` list)."""
    proc = subprocess.run(
        [sys.executable, *PYTHON[1:], "-X", "importtime", "-c", program, command, json.dumps(args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"], proc.stdout
    return imported_modules(proc.stderr)


def test_the_pre_flight_batch_runs_without_the_format_parsers(program, root, src, elsewhere):
    """Every deploy's pre-flight (and most commands) call the agent, which compiles each module it
    imports from source: the model format parsers are left to what checks formats (publish, a
    deep verify)."""
    LocalStore(root).publish("haarcascades", "2020-12-06", src, [])
    parsers = "sentinelcam_models.core.modelfiles"
    check = {"wanted": ["haarcascades/2020-12-06"], "required": {}}
    serve = {"roots": {"sentinel": ["haarcascades/2020-12-06"]}, "coral": []}
    batch = {"store": str(root), "calls": [["check", check], ["serve", serve]]}
    imported = bundle_imports(program, elsewhere, "batch", batch)
    assert "sentinelcam_models.store.served" in imported and parsers not in imported
    deep = {"store": str(root), "model": "haarcascades", "version": "2020-12-06", "deep": True}
    assert parsers in bundle_imports(program, elsewhere, "verify", deep)


def test_batch_checks_then_serves_in_one_run_only_a_sound_store(capsys, root, src):
    """The deploy's pre-flight: the check and the served roots in one round trip; a check that
    finds a version missing stops the batch, so a refused run serves nothing."""
    LocalStore(root).publish("haarcascades", "2020-12-06", src, [])
    check = {"wanted": ["haarcascades/2020-12-06"], "required": {}}
    serve = {"roots": {"sentinel": ["haarcascades/2020-12-06"]}, "coral": []}
    calls = [["check", check], ["serve", serve]]
    code, doc = call(
        capsys, "batch", {"store": str(root), "calls": calls, "after_sound_check": True}
    )
    assert code == 0 and doc["ok"], doc
    checked, served = doc["result"]
    assert checked["ok"] and checked["result"]["haarcascades/2020-12-06"]["problems"] == []
    assert served == {
        "ok": True,
        "result": {"sentinel": {"placed": 1, "removed": 0}},
    }  # one version
    linked = root / ".served" / "sentinel" / "haarcascades" / "2020-12-06" / "haarcascade_eye.xml"
    assert linked.read_bytes() == CASCADE

    missing = {"wanted": ["haarcascades/2020-12-06", "haarcascades/2021-01-01"], "required": {}}
    other = {"roots": {"outpost": ["haarcascades/2020-12-06"]}, "coral": []}
    code, doc = call(
        capsys,
        "batch",
        {
            "store": str(root),
            "calls": [["check", missing], ["serve", other]],
            "after_sound_check": True,
        },
    )
    assert code == 0 and len(doc["result"]) == 1  # the serve did not run
    assert not (root / ".served" / "outpost").exists()


@pytest.mark.parametrize(
    "calls",
    [
        [],
        [["batch", {}]],
        [["rm", {}]],
        [["exists"]],
        [["exists", {}]] * 9,
    ],
)
def test_batch_refuses_malformed_calls_before_running_any(capsys, root, calls):
    code, doc = call(capsys, "batch", {"store": str(root), "calls": calls})
    assert code == 2 and not doc["ok"] and doc["error"].startswith("batch: ")
