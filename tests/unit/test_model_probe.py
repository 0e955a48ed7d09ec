"""The shipped probe (registry ``probe: builtin``): how the gate runs it, and what it says on a
machine without the loaders (this one: the venv has no cv2, sklearn, h5py or tflite_runtime).
On the local fleet the same probe loads real files with Debian's OpenCV, scikit-learn and h5py
(tests/test_model_checks.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from facts.shell import body
from operations.health import probe_argv
from sentinelcam_models.core.registry import BUILTIN_PROBE
from tests.support.models import valid
from tests.unit.test_gate_and_helpers import gate

PROBE = body("model_probe.py")


def run_probe(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-S", "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )


def test_a_node_without_the_library_reports_it_once_and_passes(tmp_path):
    files = {}
    for name in ("facemodel.pickle", "baselines.hdf5", "model_edgetpu.tflite", "a.t7"):
        files[name] = tmp_path / name
        files[name].write_bytes(valid(name))
    done = run_probe(
        "face_recognition", str(files["facemodel.pickle"]), str(files["baselines.hdf5"])
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout == f"note: face_recognition: no scikit-learn for {sys.executable}; not loaded\n"
    )
    done = run_probe("face_detection_edgetpu", str(files["model_edgetpu.tflite"]))
    assert done.returncode == 0 and "no tflite_runtime" in done.stdout
    done = run_probe("openface_torch", str(files["a.t7"]))
    assert done.returncode == 0 and "no cv2 (OpenCV)" in done.stdout


def test_a_file_that_is_not_installed_fails_the_probe(tmp_path):
    done = run_probe("haarcascades", str(tmp_path / "haarcascade_eye.xml"))
    assert done.returncode == 1
    assert done.stderr == f"haarcascades: {tmp_path / 'haarcascade_eye.xml'} is not installed\n"


def test_builtin_runs_the_shipped_probe_with_the_services_python(tmp_path):
    model = tmp_path / "m.t7"
    model.write_bytes(valid("m.t7"))
    venv = tmp_path / "venv" / "bin" / "python3"
    argv = probe_argv((BUILTIN_PROBE, str(venv), "openface_torch", str(model)))
    assert argv[:5] == ["sh", "-c", argv[2], "sh", str(venv)]
    assert argv[5:] == ["-c", PROBE, "openface_torch", str(model)]
    # No virtualenv there: python3 from PATH, which has no OpenCV here; noted, passes.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "no cv2 (OpenCV)" in done.stdout, done.stderr
    # The virtualenv's python when it exists.
    venv.parent.mkdir(parents=True)
    venv.write_text('#!/bin/sh\necho venv python "$@" | cut -c1-40\n')
    venv.chmod(0o755)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("venv python -c")
    assert probe_argv(("/usr/local/bin/check", "x")) == ["/usr/local/bin/check", "x"]


def test_the_gate_records_a_passing_probes_note(tmp_path):
    done = gate(
        tmp_path / "bin",
        tmp_path,
        probes=[
            {
                "model": "face_detection_edgetpu",
                "version": "2026-01-01",
                "argv": ["sh", "-c", "echo 'note: face_detection_edgetpu: no tflite_runtime'"],
                "timeout": 5,
            }
        ],
    )
    assert done.returncode == 0, done.stderr
    note = (
        "probe face_detection_edgetpu 2026-01-01: note: face_detection_edgetpu: no tflite_runtime"
    )
    assert note in done.stdout
    record = json.loads((tmp_path / "state" / "health.json").read_text())
    assert record["status"] == "passed" and record["detail"].endswith(note)


def test_each_gives_every_model_what_the_single_form_gives(tmp_path):
    pickle_file, t7 = tmp_path / "facemodel.pickle", tmp_path / "a.t7"
    pickle_file.write_bytes(valid("facemodel.pickle"))
    t7.write_bytes(valid("a.t7"))
    items = [
        ["face_recognition", str(pickle_file)],
        ["haarcascades", str(tmp_path / "haarcascade_eye.xml")],  # not installed
        ["openface_torch", str(t7)],
    ]
    done = run_probe("--each", json.dumps(items))
    assert done.returncode == 0, done.stderr
    results = [
        json.loads(line.removeprefix("sentinelcam-probe ")) for line in done.stdout.splitlines()
    ]
    for index, (model, *files) in enumerate(items):
        alone = run_probe(model, *files)
        assert results[index] == {
            "index": index,
            "code": alone.returncode,
            "out": (alone.stdout + alone.stderr).strip(),
        }


def test_the_gate_runs_the_shipped_probes_of_one_python_in_one_process(tmp_path):
    """Loading OpenCV or scikit-learn once per model costs more than the loads: the gate's
    shipped probes that share a Python run together, each still judged on its own."""
    from operations.health import probe_entry  # noqa: PLC0415
    from sentinelcam_models.core.rollout import Probe  # noqa: PLC0415

    log = tmp_path / "started"
    venv = tmp_path / "venv" / "bin" / "python3"
    venv.parent.mkdir(parents=True)
    venv.write_text(f'#!/bin/sh\necho started >> {log}\nexec {sys.executable} -S "$@"\n')
    venv.chmod(0o755)
    t7 = tmp_path / "a.t7"
    t7.write_bytes(valid("a.t7"))
    probes = [
        Probe(
            "openface_torch",
            "2026-01-01",
            (BUILTIN_PROBE, str(venv), "openface_torch", str(t7)),
            30,
        ),
        Probe(
            "haarcascades",
            "2026-01-02",
            (BUILTIN_PROBE, str(venv), "haarcascades", str(tmp_path / "eye.xml")),
            30,
        ),
        Probe("face_detection", "2026-01-03", ("sh", "-c", "echo alone; exit 3"), 30),
    ]
    done = gate(tmp_path / "bin", tmp_path, probes=[probe_entry(p) for p in probes])
    assert done.returncode == 1
    assert log.read_text() == "started\n"  # both shipped probes, one process
    assert (
        f"probe haarcascades 2026-01-02 failed (exit 1): haarcascades: {tmp_path / 'eye.xml'} "
        "is not installed" in done.stderr
    )
    assert "probe face_detection 2026-01-03 failed (exit 3): alone" in done.stderr
    assert "openface_torch" not in done.stderr  # it loaded (noted: no cv2 here)
