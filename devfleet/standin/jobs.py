"""Sentinel jobs: each task class's reads of its config file, one job run, the job socket."""

import contextlib
import json
import os
import select
import socket
import time

from .config import KINDS, Cfg
from .loading import (
    ConfigError,
    MissingKey,
    load_caffe,
    load_cascade,
    load_face_model,
    load_file,
    load_tflite,
    load_torch,
    read_yaml,
)
from .places import JOBS_LOG, SOCKET_PATH, STATE_DIR

# ------------------------------------------------------------------------------------------------
# Sentinel jobs: the task code's reads of its config file (§3.3-§3.10)


def face_aligner(c, load):
    load_cascade(load(c.req("haarcascade_path", "str")))
    eye = c.req("desiredLeftEye", "list")
    if len(eye) != 2 or not all(KINDS["number"][0](x) for x in eye):
        raise ConfigError(f"{c.file}: {c.dotted('desiredLeftEye')} must be two numbers")
    c.req("desiredFaceWidth", "int")
    c.req("desiredFaceHeight", "int")


def mobilenet_ssd(c, accel, load):
    """tasklibrary.MobileNetSSD: the engine's accelerator picks the model."""
    if accel == "coral":
        load_tflite(load(c.req("edgetpu_model", "str")))
        load(c.req("model_labels", "str"))
    else:
        proto = load(c.req("prototxt_path", "str"))
        load_caffe(proto, load(c.req("model_path", "str")))
        c.req("target", "str")
    c.req("confidence", "number")


def face_detector(c, accel, load):
    """tasklibrary.FaceDetector: coral loads edgetpu_model; otherwise the Caffe pair plus target."""
    if accel == "coral":
        load_tflite(load(c.req("edgetpu_model", "str")))
    else:
        proto = load(c.req("prototxt_path", "str"))
        load_caffe(proto, load(c.req("model_path", "str")), face=True)
        c.req("target", "str")
    c.req("confidence", "number")


def job_get_faces(c, accel, load):
    fd = c.sub("face_detection")
    c.req("camwatcher_update", "bool")
    c.req("trk_type", "str")
    c.req("all_frames", "bool")
    face_detector(fd, accel, load)


def job_mobilenet_all_frames(c, accel, load):
    m = c.sub("mobilenetssd")
    c.req("camwatcher_update", "bool")
    c.req("trk_type", "str")
    mobilenet_ssd(m, accel, load)


def job_face_recon(c, accel, load):
    c.req("camwatcher_update", "bool")
    c.req("trk_type", "str")
    face_aligner(c.sub("face_aligner"), load)
    load_torch(load(c.sub("face_embeddings").req("model_path", "str")))
    load_face_model(load(c.req("facemodel", "str")), load(c.req("baselines", "str")))


def job_face_sweep(c, accel, load):
    c.req("ref_type", "str")
    load(c.req("facefile", "str"))
    face_aligner(c.sub("face_aligner"), load)


def job_face_data_update(c, accel, load):
    load(c.req("facedata", "str"))
    load(c.req("facefile", "str"))
    face_aligner(c.sub("face_aligner"), load)
    load_torch(load(c.sub("face_embeddings").req("model_path", "str")))


def job_vehicle_speed(c, accel, load):
    c.req("camwatcher_update", "bool")
    c.req("refkey", "str")
    classes = c.req("vehicle_classes", "list")
    if not all(isinstance(x, str) for x in classes):
        raise ConfigError(f"{c.file}: vehicle_classes must be a list of class names")
    markers = c.req("markers_x", "list")
    if not all(KINDS["number"][0](x) for x in markers):
        raise ConfigError(f"{c.file}: markers_x must be a list of numbers")
    for key in (
        "marker_y",
        "marker_y_tolerance",
        "street_length_meters",
        "camera_distance_meters",
        "viewport_width_meters",
        "speed_limit_mph",
        "speed_tolerance_mph",
    ):
        c.req(key, "number")
    c.req("min_markers", "int")
    c.opt("speed_calibration_factor", "number")


def job_daily_cleanup(c, accel, load):
    c.req("run_deletes", "bool")
    c.opt("max_scan_days", "int")
    profiles = c.sub("retention_profiles")
    for name in profiles.names():
        p = profiles.sub(name)
        p.opt("strategy", "str")
        for key in ("retention_days", "extended_days", "scene_expiry_band"):
            p.opt(key, "int")
        for key in ("min_face_ratio", "confidence_threshold", "speed_cutoff"):
            p.opt(key, "number")
        p.opt("scene_retention_days", "int", nullable=True)
        nodes = p.opt("nodes", "list", [])
        if not all(isinstance(x, str) for x in nodes):
            raise ConfigError(f"{c.file}: {p.dotted('nodes')} must be a list of node names")


def job_measure_ring_latency(c, accel, load):
    mobilenet_ssd(c.sub("mobilenetssd"), accel, load)


TASK_CLASSES = {
    "GetFaces": job_get_faces,
    "MobileNetSSD_allFrames": job_mobilenet_all_frames,
    "FaceRecon": job_face_recon,
    "FaceSweep": job_face_sweep,
    "FaceDataUpdate": job_face_data_update,
    "VehicleSpeed": job_vehicle_speed,
    "DailyCleanup": job_daily_cleanup,
    "MeasureRingLatency": job_measure_ring_latency,
}


def run_job(cfg, task):
    """One job of ``task`` with the sentinel.yaml read at start: re-read the task file, check it
    and load its models; append the result to the jobs log and return it."""
    files = []

    def load(path):
        load_file(path, {})
        if path not in files:
            files.append(path)
        return path

    error = None
    try:
        entry = cfg["task_list"].get(task)
        if entry is None:
            raise ConfigError(f"No such task: {task}")
        factory = entry.get("alias", task)
        check = TASK_CLASSES.get(factory)
        if check is None:
            raise MissingKey(f"no task class {factory!r} (task {task})")
        engine = next(
            (spec for spec in cfg["task_engines"].values() if entry["class"] in spec["classes"]),
            None,
        )
        if engine is None:
            raise ConfigError(f"no task engine runs class {entry['class']} (task {task})")
        path = entry["config"]
        if not os.path.isfile(path):
            # readConfig gives {} for a missing file, and the task's first key read fails.
            raise MissingKey(f"task config {path} does not exist")
        files.append(path)
        doc = read_yaml(path, {})
        check(Cfg(doc, path), engine["accelerator"], load)
    except MissingKey as e:
        error = f"taskHost() internal key error: {e}"
    except ConfigError as e:
        error = f"taskHost() exception: {e}"
    except Exception as e:  # a job failure never takes the sentinel down, as in the real one
        error = f"taskHost() exception: {type(e).__name__}: {e}"
    result = {"task": task, "ok": error is None, "error": error, "files": files}
    os.makedirs(STATE_DIR, exist_ok=True)
    fd = os.open(JOBS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(result) + "\n").encode())
    finally:
        os.close(fd)
    return result


def listen():
    """The job socket, bound under a temporary name and renamed into place once it listens, so
    that a client that sees the file can connect."""
    os.makedirs(STATE_DIR, exist_ok=True)
    tmp = f"{SOCKET_PATH}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(tmp)
    os.chmod(tmp, 0o660)
    sock.listen(16)
    os.replace(tmp, SOCKET_PATH)
    return sock, os.stat(SOCKET_PATH).st_ino


def answer(conn, cfg):
    with conn:
        conn.settimeout(10)
        data = b""
        with contextlib.suppress(OSError):
            while b"\n" not in data and len(data) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        task = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        result = run_job(cfg, task)
        with contextlib.suppress(OSError):
            conn.sendall((json.dumps(result) + "\n").encode())


def serve(sock, cfg):
    """Answer job requests; in timer mode also run every task with a config file periodically."""
    try:
        interval = float(os.environ.get("SENTINELCAM_STANDIN_JOB_INTERVAL") or 0)
    except ValueError:
        interval = 0.0
    due = time.monotonic() + interval if interval > 0 else None
    while True:
        timeout = None if due is None else max(0.0, due - time.monotonic())
        ready, _, _ = select.select([sock], [], [], timeout)
        if ready:
            conn, _ = sock.accept()
            answer(conn, cfg)
        if due is not None and time.monotonic() >= due:
            for task, entry in cfg["task_list"].items():
                if os.path.isfile(entry["config"]):
                    run_job(cfg, task)
            due = time.monotonic() + interval
