"""devfleet/sentinelcam-standin reads configs like the real SentinelCam services (no root, no
fleet).

The script runs as a subprocess with SENTINELCAM_STANDIN_HOME pointing at a temporary directory
and the configs devfleet/provision.py gives the fleet's nodes, with every path moved into that
directory. Readiness is awaited on real events: the READY=1 datagram on a NOTIFY_SOCKET of our
own, the job socket appearing, the process exiting; never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from devfleet import modelgen, provision
from tests.support.imports import imported_modules

STANDIN = str(Path(provision.__file__).resolve().parent / "sentinelcam-standin")
DEADLINE = 30.0


@pytest.fixture
def home():
    """A short temporary HOME: unix socket paths must stay under 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="sc-") as d:
        yield Path(d)


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    env["SENTINELCAM_STANDIN_HOME"] = str(home)
    env.update(extra)
    return env


def standin(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, STANDIN, *args],
        env=env_for(home, **extra),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def model_file(path: Path, broken: bool = False) -> Path:
    """A small file of the format its name says (devfleet.modelgen), as the store would hold."""
    data = modelgen.file_bytes(path.name, 2048, str(path), modelgen.STDLIB_TEMPLATES, broken)
    return write(path, data)


def truncated(path: Path) -> Path:
    return write(path, path.read_bytes()[: path.stat().st_size // 2])


class Started:
    """A service started with a NOTIFY_SOCKET: either ready (running) or exited."""

    def __init__(self, proc, ready, stderr=""):
        self.proc, self.ready, self.stderr = proc, ready, stderr

    @property
    def lines(self):
        return self.stderr.strip().splitlines()


@contextlib.contextmanager
def start(home: Path, service: str):
    """Start a service; wait for READY=1 or its exit; stop it (SIGTERM) afterwards."""
    notify_path = str(home / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        proc = subprocess.Popen(
            [sys.executable, STANDIN, service],
            env=env_for(home, NOTIFY_SOCKET=notify_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Wait for whichever comes first: READY=1 on the socket, or the end of its stderr (it
            # exited); what it writes to stderr on the way is kept for the exit's lines.
            end = time.monotonic() + DEADLINE
            stderr = proc.stderr.fileno()
            written = b""
            result = None
            while result is None:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"{service} neither became ready nor exited in {DEADLINE} s")
                ready, _, _ = select.select([notify, stderr], [], [], remaining)
                if notify in ready and b"READY=1" in notify.recv(4096):
                    result = Started(proc, True)
                elif stderr in ready:
                    chunk = os.read(stderr, 65536)
                    written += chunk
                    if not chunk:  # stderr closed: it exited (else the same failure as above)
                        try:
                            proc.wait(timeout=max(remaining, 0.01))
                        except subprocess.TimeoutExpired:
                            pytest.fail(
                                f"{service} closed its stderr but did not exit or become ready"
                            )
                        result = Started(proc, False, written.decode())
            yield result
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.communicate(timeout=DEADLINE)
            os.unlink(notify_path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------
# sentinel: start


def provision_sentinel(home: Path, accelerator: str = "cpu") -> None:
    write(home / "sentinel.yaml", provision.sentinel_yaml(accelerator=accelerator, home=str(home)))
    tasks = home / "sentinel" / "tasks"
    write(tasks / "VehicleSpeed.yaml", provision.vehicle_speed_yaml())
    write(tasks / "DailyCleanup.yaml", provision.daily_cleanup_yaml())


def test_sentinel_starts_with_the_provisioned_config(home):
    provision_sentinel(home)
    with start(home, "sentinel") as s:
        assert s.ready, s.stderr
        loaded = (home / ".standin" / "sentinel.loaded").read_text()
        # Only sentinel.yaml is read at start: task files are read per job.
        assert loaded == f"{sha256(home / 'sentinel.yaml')}  {home / 'sentinel.yaml'}\n"
        assert (home / ".standin" / "sentinel.starts").read_text() == "1\n"
    with start(home, "sentinel") as s:
        assert s.ready
    assert (home / ".standin" / "sentinel.starts").read_text() == "2\n"
    assert not (home / ".standin" / "sentinel.sock").exists()  # removed on SIGTERM


def edited_sentinel(home: Path, edit) -> None:
    doc = yaml.safe_load(provision.sentinel_yaml(home=str(home)))
    edit(doc)
    write(home / "sentinel.yaml", "%YAML 1.0\n---\n" + yaml.safe_dump(doc))


@pytest.mark.parametrize(
    "edit,words",
    [
        (lambda d: d.pop("task_engines"), ["task_engines", "missing"]),
        (lambda d: d.pop("logconfig"), ["logconfig", "missing"]),
        (
            lambda d: d["logconfig"]["handlers"].update(pub=d["logconfig"]["handlers"].pop("zmq")),
            ["logconfig.handlers.zmq", "missing"],
        ),
        (lambda d: d.update(control_port="5566"), ["control_port", "integer"]),
        (
            lambda d: d["ring_buffer_models"]["default"].update(vga=[[640, 480], 5]),
            ["ring_buffer_models.default.vga", "string"],
        ),
        (
            lambda d: d["ring_buffer_models"]["default"].update(vga="(640, 480)"),
            ["ring_buffer_models.default.vga", "tuple literal"],
        ),
        (lambda d: d["task_engines"]["Alpha"].update(ring_buffers="hd"), ["ring_buffers", "'hd'"]),
        (lambda d: d["task_engines"]["Bravo2"].update(classes="2, 3"), ["classes", "list"]),
        (
            lambda d: d["task_list"]["GetFaces"].pop("class"),
            ["task_list.GetFaces.class", "missing"],
        ),
        (
            lambda d: d["task_list"]["FaceRecon"].update(config=["FaceRecon.yaml"]),
            ["task_list.FaceRecon.config", "string"],
        ),
    ],
)
def test_sentinel_refuses_a_bad_config_with_one_line(home, edit, words):
    edited_sentinel(home, edit)
    with start(home, "sentinel") as s:
        assert not s.ready
        assert s.proc.returncode == 1
        assert len(s.lines) == 1, s.stderr
        for word in words:
            assert word in s.lines[0], s.lines[0]
    assert not (home / ".standin" / "sentinel.starts").exists()
    assert not (home / ".standin" / "sentinel.sock").exists()


def test_sentinel_missing_config_fails(home):
    with start(home, "sentinel") as s:
        assert not s.ready and s.proc.returncode == 1
        assert "sentinel.yaml" in s.lines[0]


# ------------------------------------------------------------------------------------------------
# sentinel: jobs


@contextlib.contextmanager
def sentinel_daemon(home: Path, **extra: str):
    """The sentinel started without NOTIFY_SOCKET, as a daemon; ready once its job socket exists."""
    sock = home / ".standin" / "sentinel.sock"
    proc = subprocess.Popen(
        [sys.executable, STANDIN, "sentinel"],
        env=env_for(home, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + DEADLINE
        while not sock.exists():
            if proc.poll() is not None:
                pytest.fail(f"sentinel exited {proc.returncode}: {proc.stderr.read()}")
            if time.monotonic() > end:
                pytest.fail(f"no job socket after {DEADLINE} s")
            time.sleep(0.02)  # polling interval for the socket file, not a synchronisation sleep
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=DEADLINE)


def job(home: Path, task: str) -> tuple[int, dict, str]:
    p = standin(home, "job", task)
    result = json.loads(p.stdout) if p.stdout.strip() else {}
    return p.returncode, result, p.stderr


def jobs_log(home: Path) -> list[dict]:
    path = home / ".standin" / "sentinel.jobs"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def face_detection_models(home: Path) -> dict[str, Path]:
    m = home / "sentinel" / "models"
    return {
        "prototxt_path": model_file(m / "face_detection/2020-03-25/deploy.prototxt"),
        "model_path": model_file(
            m / "face_detection/2020-03-25/res10_300x300_ssd_iter_140000.caffemodel"
        ),
        "edgetpu_model": model_file(
            m / "face_detection_edgetpu/2025-12-19/"
            "ssd_mobilenet_v2_face_quant_postprocess_edgetpu.tflite"
        ),
    }


def get_faces_yaml(models: dict[str, Path], coral: bool = False) -> str:
    """GetFaces.yaml as §3.3 gives it (cpu branch, or the coral + ssd_mobilenet branch)."""
    fd = {"confidence": 0.5}
    if coral:
        fd["edgetpu_model"] = str(models["edgetpu_model"])
    fd.update(
        prototxt_path=str(models["prototxt_path"]),
        model_path=str(models["model_path"]),
        target="cpu",
    )
    doc = {"trk_type": "fd1", "all_frames": False, "camwatcher_update": True, "face_detection": fd}
    return "%YAML 1.0\n---\n" + yaml.safe_dump(doc, sort_keys=False)


def test_job_succeeds_with_a_correct_task_file(home):
    provision_sentinel(home)
    models = face_detection_models(home)
    config = write(home / "sentinel/tasks/GetFaces.yaml", get_faces_yaml(models))
    with sentinel_daemon(home):
        rc, result, err = job(home, "GetFaces")
        assert rc == 0, err
        assert result == {
            "task": "GetFaces",
            "ok": True,
            "error": None,
            "files": [str(config), str(models["prototxt_path"]), str(models["model_path"])],
        }
        # GetFaces2 is an alias: same class, same file.
        rc, result, _ = job(home, "GetFaces2")
        assert rc == 0 and result["task"] == "GetFaces2" and result["files"][0] == str(config)
    assert [(r["task"], r["ok"]) for r in jobs_log(home)] == [
        ("GetFaces", True),
        ("GetFaces2", True),
    ]


def test_job_fails_for_an_invented_key_layout(home):
    provision_sentinel(home)
    models = face_detection_models(home)
    invented = {
        "trk_type": "fd1",
        "all_frames": False,
        "camwatcher_update": True,
        "face_detection": {
            "model": str(models["model_path"]),
            "config": str(models["prototxt_path"]),
            "confidence": 0.5,
        },
    }
    write(home / "sentinel/tasks/GetFaces.yaml", yaml.safe_dump(invented))
    with sentinel_daemon(home) as proc:
        rc, result, err = job(home, "GetFaces")
        assert rc == 1
        assert result["ok"] is False
        assert result["error"].startswith("taskHost() internal key error")
        assert "face_detection.prototxt_path is missing" in result["error"]
        assert "GetFaces" in err and "failed" in err
        assert proc.poll() is None  # a failed job never takes the sentinel down
    assert jobs_log(home)[-1]["ok"] is False


def test_job_fails_for_a_broken_model_and_rereads_the_task_file(home):
    provision_sentinel(home)
    models = face_detection_models(home)
    truncated(models["model_path"])
    write(home / "sentinel/tasks/GetFaces.yaml", get_faces_yaml(models))
    with sentinel_daemon(home):
        rc, result, _ = job(home, "GetFaces")
        assert rc == 1
        assert result["error"].startswith(
            f"taskHost() exception: model file {models['model_path']} does not load: "
        ), result["error"]
        assert "runs" in result["error"] and "past the end" in result["error"]
        # The task file is read fresh at every job: point it at a good version, no restart.
        good = model_file(home / "sentinel/models/face_detection/2026-01-01/model.caffemodel")
        write(home / "sentinel/tasks/GetFaces.yaml", get_faces_yaml({**models, "model_path": good}))
        rc, result, _ = job(home, "GetFaces")
        assert rc == 0 and str(good) in result["files"]
    assert (home / ".standin" / "sentinel.starts").read_text() == "1\n"


def test_job_fails_for_a_wrong_type(home):
    provision_sentinel(home)
    models = face_detection_models(home)
    doc = yaml.safe_load(get_faces_yaml(models))
    doc["face_detection"]["confidence"] = "high"
    write(home / "sentinel/tasks/GetFaces.yaml", yaml.safe_dump(doc))
    with sentinel_daemon(home):
        rc, result, _ = job(home, "GetFaces")
    assert rc == 1 and "face_detection.confidence must be a number" in result["error"]


def test_missing_task_file_is_an_internal_key_error(home):
    provision_sentinel(home)
    with sentinel_daemon(home):
        rc, result, _ = job(home, "FaceRecon")
        assert rc == 1
        assert result["error"].startswith("taskHost() internal key error")
        assert "FaceRecon.yaml does not exist" in result["error"]
        assert result["files"] == []
        rc, result, _ = job(home, "NoSuchTask")
        assert rc == 1 and result["error"] == "taskHost() exception: No such task: NoSuchTask"


def test_the_engine_accelerator_decides_which_models_load(home):
    """A coral Alpha engine loads face_detection.edgetpu_model, not the Caffe pair (§3.3)."""
    provision_sentinel(home, accelerator="coral")
    models = face_detection_models(home)
    write(home / "sentinel/tasks/GetFaces.yaml", get_faces_yaml(models, coral=False))
    with sentinel_daemon(home):
        rc, result, _ = job(home, "GetFaces")
        assert rc == 1 and "face_detection.edgetpu_model is missing" in result["error"]
        write(home / "sentinel/tasks/GetFaces.yaml", get_faces_yaml(models, coral=True))
        rc, result, _ = job(home, "GetFaces")
        assert rc == 0
        assert result["files"][1:] == [str(models["edgetpu_model"])]


def test_model_task_files_as_the_spec_gives_them(home):
    """FaceRecon, FaceSweep, FaceDataUpdate and MobileNetSSD_allFrames with §3.4-§3.7 keys."""
    provision_sentinel(home)
    m = home / "sentinel" / "models"
    f = {
        name: model_file(m / rel)
        for name, rel in {
            "haar": "haarcascades/2020-03-25/haarcascade_eye.xml",
            "torch": "openface_torch/2020-03-25/openface_nn4.small2.v1.t7",
            "facemodel": "face_recognition/2026-02-02/facemodel.pickle",
            "baselines": "face_recognition/2026-02-02/baselines.hdf5",
            "facelist": "face_recognition/2026-02-02/facelist.csv",
            "facedata": "face_recognition/2026-02-02/facedata.hdf5",
            "prototxt": "mobilenet_ssd/2020-12-06/MobileNetSSD_deploy.prototxt",
            "caffemodel": "mobilenet_ssd/2020-12-06/MobileNetSSD_deploy.caffemodel",
        }.items()
    }
    aligner = {
        "haarcascade_path": str(f["haar"]),
        "desiredLeftEye": [0.29, 0.27],
        "desiredFaceWidth": 96,
        "desiredFaceHeight": 96,
    }
    docs = {
        "FaceRecon": {
            "trk_type": "fr1",
            "camwatcher_update": True,
            "face_aligner": aligner,
            "face_embeddings": {"model_path": str(f["torch"])},
            "facemodel": str(f["facemodel"]),
            "baselines": str(f["baselines"]),
        },
        "FaceSweep": {"ref_type": "fr1", "facefile": str(f["facelist"]), "face_aligner": aligner},
        "FaceDataUpdate": {
            "face_aligner": aligner,
            "face_embeddings": {"model_path": str(f["torch"])},
            "facefile": str(f["facelist"]),
            "facedata": str(f["facedata"]),
        },
        "MobileNetSSD_allFrames": {
            "trk_type": "obj",
            "camwatcher_update": True,
            "mobilenetssd": {
                "confidence": 0.5,
                "prototxt_path": str(f["prototxt"]),
                "model_path": str(f["caffemodel"]),
                "target": "cpu",
                "edgetpu_model": str(m / "absent.tflite"),
                "model_labels": str(m / "absent.txt"),
            },
        },
    }
    for task, doc in docs.items():
        write(home / f"sentinel/tasks/{task}.yaml", "%YAML 1.0\n---\n" + yaml.safe_dump(doc))
    with sentinel_daemon(home):
        for task in (*docs, "VehicleSpeed", "DailyCleanup"):
            rc, result, err = job(home, task)
            assert rc == 0, (task, result, err)
        # The cpu engine never opens the EdgeTPU files the file also names (§3.4: always rendered).
        assert not any("absent" in p for r in jobs_log(home) for p in r["files"])
        write(f["baselines"], b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
        rc, result, _ = job(home, "FaceRecon")
        assert rc == 1 and "baselines.hdf5 does not load: " in result["error"]
        assert "no HDF5 signature" in result["error"]
        del docs["FaceSweep"]["face_aligner"]["desiredFaceWidth"]
        write(home / "sentinel/tasks/FaceSweep.yaml", yaml.safe_dump(docs["FaceSweep"]))
        rc, result, _ = job(home, "FaceSweep")
        assert rc == 1 and "face_aligner.desiredFaceWidth is missing" in result["error"]


def test_role_task_files_need_their_keys(home):
    provision_sentinel(home)
    doc = yaml.safe_load(provision.vehicle_speed_yaml())
    del doc["street_length_meters"]
    write(home / "sentinel/tasks/VehicleSpeed.yaml", yaml.safe_dump(doc))
    doc = yaml.safe_load(provision.daily_cleanup_yaml())
    doc["run_deletes"] = "yes"
    write(home / "sentinel/tasks/DailyCleanup.yaml", yaml.safe_dump(doc))
    with sentinel_daemon(home):
        rc, result, _ = job(home, "VehicleSpeed")
        assert rc == 1 and "street_length_meters is missing" in result["error"]
        rc, result, _ = job(home, "DailyCleanup")
        assert rc == 1 and "run_deletes must be true or false" in result["error"]


def test_timer_mode_runs_every_task_with_a_config_file(home):
    provision_sentinel(home)
    with sentinel_daemon(home, SENTINELCAM_STANDIN_JOB_INTERVAL="0.1"):
        end = time.monotonic() + DEADLINE
        while len(jobs_log(home)) < 4:
            assert time.monotonic() < end, jobs_log(home)
            time.sleep(0.02)  # polling interval for the jobs log
    tasks = {r["task"] for r in jobs_log(home)}
    assert tasks == {"VehicleSpeed", "DailyCleanup"}  # the only task files present
    assert all(r["ok"] for r in jobs_log(home))


def test_job_without_a_sentinel(home):
    rc, result, err = job(home, "GetFaces")
    assert rc == 2 and result == {}
    assert "no sentinel answers" in err


# ------------------------------------------------------------------------------------------------
# imagenode and datapump

OUTPOST_MODELS = {
    # kind: files its imagenode.yaml names, relative to the models root (§3.11 table)
    "oak": ["mobilenet_ssd_depthai/2026-06-07/mobilenet-ssd-300x300.rvc2.tar.xz"],
    "coral": [
        "mobilenet_ssd_edgetpu/2025-12-19/ssd_mobilenet_v2_coco_quant_postprocess_edgetpu.tflite",
        "mobilenet_ssd_edgetpu/2025-12-19/coco_labels.txt",
    ],
    "cpu": [
        "mobilenet_ssd/2020-12-06/MobileNetSSD_deploy.prototxt",
        "mobilenet_ssd/2020-12-06/MobileNetSSD_deploy.caffemodel",
    ],
}
OUTPOSTS = {"oak": "east", "coral": "alpha5", "cpu": "outpost7"}


def provision_outpost(home: Path, kind: str) -> list[Path]:
    root = home / "imagenode" / "models"
    write(home / "imagenode.yaml", provision.imagenode_yaml(OUTPOSTS[kind], models_root=str(root)))
    return [model_file(root / rel) for rel in OUTPOST_MODELS[kind]]


@pytest.mark.parametrize("kind", ["oak", "coral", "cpu"])
def test_imagenode_starts_once_its_models_exist(home, kind):
    files = provision_outpost(home, kind)
    with start(home, "imagenode") as s:
        assert s.ready, s.stderr
    expected = sorted([*files, home / "imagenode.yaml"], key=str)
    assert (home / ".standin" / "imagenode.loaded").read_text() == "".join(
        f"{sha256(p)}  {p}\n" for p in expected
    )
    assert (home / ".standin" / "imagenode.starts").read_text() == "1\n"


@pytest.mark.parametrize("kind", ["oak", "coral", "cpu"])
def test_imagenode_fails_for_a_missing_model(home, kind):
    files = provision_outpost(home, kind)
    files[-1].unlink()
    with start(home, "imagenode") as s:
        assert not s.ready and s.proc.returncode == 1
        assert len(s.lines) == 1 and str(files[-1]) in s.lines[0], s.stderr
    assert not (home / ".standin" / "imagenode.starts").exists()


@pytest.mark.parametrize("kind", ["oak", "coral", "cpu"])
def test_imagenode_fails_for_a_broken_model(home, kind):
    files = provision_outpost(home, kind)
    bad = next(f for f in files if f.suffix in (".xz", ".tflite", ".caffemodel"))
    truncated(bad)
    with start(home, "imagenode") as s:
        assert not s.ready and s.proc.returncode == 1
        assert len(s.lines) == 1 and s.lines[0].startswith(
            f"sentinelcam-standin: imagenode: model file {bad} does not load: "
        ), s.lines


def edited_imagenode(home: Path, kind: str, edit) -> None:
    provision_outpost(home, kind)
    doc = yaml.safe_load((home / "imagenode.yaml").read_text())
    camera = next(iter(doc["cameras"].values()))
    edit(camera, camera["detectors"]["outpost"])
    write(home / "imagenode.yaml", yaml.safe_dump(doc))


@pytest.mark.parametrize(
    "kind,edit,words",
    [
        ("cpu", lambda c, o: c.update(resolution=[640, 480]), ["resolution", "string"]),
        ("cpu", lambda c, o: c.update(resolution="640x480"), ["resolution", "tuple literal"]),
        ("cpu", lambda c, o: o.pop("sentinel_tasks"), ["sentinel_tasks", "missing"]),
        ("cpu", lambda c, o: o["mobilenetssd"].pop("target"), ["mobilenetssd.target", "missing"]),
        ("cpu", lambda c, o: o["mobilenetssd"].update(confidence="0.5"), ["confidence", "number"]),
        # A coral camera loads the EdgeTPU pair; a CPU layout on it is missing edgetpu_model.
        (
            "coral",
            lambda c, o: o.update(
                mobilenetssd={
                    "confidence": 0.5,
                    "prototxt_path": "/x",
                    "model_path": "/y",
                    "target": "cpu",
                }
            ),
            ["mobilenetssd.edgetpu_model", "missing"],
        ),
        # The DepthAI v2 shape (model: ….blob) is refused by the v3 code.
        (
            "oak",
            lambda c, o: o["depthai"].update(model=o["depthai"].pop("nn_archive")),
            ["depthai.nn_archive", "missing"],
        ),
        ("oak", lambda c, o: o["depthai"].update(crop_publish="5568"), ["crop_publish", "integer"]),
        ("oak", lambda c, o: o.pop("depthai"), ["depthai", "missing"]),
    ],
)
def test_imagenode_refuses_a_bad_config(home, kind, edit, words):
    edited_imagenode(home, kind, edit)
    with start(home, "imagenode") as s:
        assert not s.ready and s.proc.returncode == 1
        assert len(s.lines) == 1, s.stderr
        for word in words:
            assert word in s.lines[0], s.lines[0]


def test_datapump_needs_its_face_list(home):
    write(home / "datapump.yaml", provision.datapump_yaml(home=str(home)))
    with start(home, "datapump") as s:
        assert not s.ready and s.proc.returncode == 1
        assert provision.facefile_path(str(home)) in s.lines[0]
    facelist = write(Path(provision.facefile_path(str(home))), provision.facelist_csv())
    with start(home, "datapump") as s:
        assert s.ready, s.stderr
    assert f"{sha256(facelist)}  {facelist}\n" in (home / ".standin/datapump.loaded").read_text()
    doc = yaml.safe_load((home / "datapump.yaml").read_text())
    doc["control_port"] = "tcp://*:5556"
    write(home / "datapump.yaml", yaml.safe_dump(doc))
    with start(home, "datapump") as s:
        assert not s.ready and "control_port must be an integer" in s.lines[0]


# ------------------------------------------------------------------------------------------------
# probe and usage


def test_probe(home):
    good = write(home / "m" / "good.bin", os.urandom(512))
    bad = write(home / "m" / "bad.caffemodel", b"<!DOCTYPE html><html></html>\n")
    p = standin(home, "probe", str(good))
    assert p.returncode == 0 and p.stdout == f"{sha256(good)}  {good}\n"
    p = standin(home, "probe", str(good), str(bad), str(home / "m" / "absent.bin"))
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        f"sentinelcam-standin: probe: model file {bad} does not load: not a valid Caffe model "
        "(protobuf NetParameter): wire type 4 at byte 0 (not protobuf)",
        f"sentinelcam-standin: probe: model file {home / 'm' / 'absent.bin'} cannot be read: "
        "No such file or directory",
    ]


@pytest.mark.parametrize("args", [[], ["job"], ["probe"], ["camwatcher"]])
def test_usage(home, args):
    p = standin(home, *args)
    assert p.returncode == 2 and p.stderr.startswith("usage:")


def test_without_its_modules_it_says_where_it_looked(home):
    """The command alone (copied somewhere without the package standin/ beside it) names the
    places it looked for its modules, in one line, and exits 2."""
    alone = home / "bin" / "sentinelcam-standin"
    alone.parent.mkdir()
    alone.write_bytes(Path(STANDIN).read_bytes())
    p = subprocess.run(
        [sys.executable, str(alone), "probe", str(alone)],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == (
        "sentinelcam-standin: its modules are not installed: no standin/ package in "
        f"{home}/lib/sentinelcam-standin/standin or {home}/bin/standin\n"
    )


def test_a_job_client_loads_none_of_the_services_loaders(home):
    # `job` only talks to the running sentinel: PyYAML, the loaders and the format checks are
    # the services' (half a job's CPU when it imported them; the tests run one per job).
    done = subprocess.run(
        [sys.executable, "-X", "importtime", STANDIN, "job", "GetFaces"],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 2 and "no sentinel answers" in done.stderr  # none is running
    imported = imported_modules(done.stderr)
    assert "standin.places" in imported  # the program ran and reported its imports
    assert not imported & {"yaml", "standin.loading", "standin.jobs", "standin.services"}
