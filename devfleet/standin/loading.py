"""Errors, and reading files as the services do: whole with its sha256, the format checks
(core/modelfiles/), SentinelCam's own loaders where the node has them, readConfig."""

import hashlib
import importlib.util
import os
import pickle
import sys
from types import ModuleType

import yaml

from .places import MODELFILES

# ------------------------------------------------------------------------------------------------
# Errors and loading


class ConfigError(Exception):
    """A config the real service would refuse (bad type or value, a file that does not load).
    The message is the one line printed."""


class MissingKey(ConfigError):
    """A required key is absent: the real code raises KeyError (a job: "taskHost() internal key
    error")."""


def fail(message):
    print(f"sentinelcam-standin: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


_LIBS: dict[str, ModuleType | None] = {}


def lib(name):
    """An optional library (cv2, numpy, h5py, pickle, the format checks), or None."""
    if name not in _LIBS:
        try:
            if name == "modelfiles":
                path = next(
                    (p for p in MODELFILES if p and os.path.isfile(os.path.join(p, "__init__.py"))),
                    None,
                )
                spec = (
                    importlib.util.spec_from_file_location(
                        "modelfiles",
                        os.path.join(path, "__init__.py"),
                        submodule_search_locations=[path],
                    )
                    if path
                    else None
                )
                module = importlib.util.module_from_spec(spec) if spec else None
                if module is not None:
                    sys.modules["modelfiles"] = module  # its relative imports find the package
                    spec.loader.exec_module(module)  # type: ignore[union-attr]
                _LIBS[name] = module
            else:
                _LIBS[name] = __import__(name)
        except ImportError:
            _LIBS[name] = None
    return _LIBS[name]


def fault(path, why, what="model file"):
    return ConfigError(f"{what} {path} does not load: {' '.join(str(why).split())[:240]}")


def load_file(path, loaded, what="model file"):
    """Read a file whole, as a model loader would; record its sha256 in ``loaded``; a model
    file must also hold its format (core/modelfiles/)."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{what} path {path!r} is not a file name")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
            checks = lib("modelfiles")
            problem = None
            if what == "model file" and checks is not None:
                problem = checks.check_file(os.path.basename(path), f, os.fstat(f.fileno()).st_size)
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be read: {e.strerror or e}") from None
    if problem is not None:
        raise fault(path, problem.split(": ", 1)[-1])
    loaded[path] = digest.hexdigest()
    return path


# ------------------------------------------------------------------------------------------------
# SentinelCam's loaders (tasklibrary.py, taskfactory.py, facedata.py)


def cv_error(cv2, e):
    lines = [x for x in str(e).splitlines() if x.strip()]
    return lines[-1] if lines else type(e).__name__


def load_caffe(prototxt, model, face=False):
    """MobileNetSSD / FaceDetector on the CPU: readNetFromCaffe, then one frame."""
    cv2, np = lib("cv2"), lib("numpy")
    if cv2 is None or np is None:
        return
    try:
        net = cv2.dnn.readNetFromCaffe(prototxt, model)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        frame = np.full((240, 320, 3), 96, np.uint8)
        if face:
            net.setInput(
                cv2.dnn.blobFromImage(
                    cv2.resize(frame, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0)
                )
            )
        else:
            net.setInput(
                cv2.dnn.blobFromImage(frame, size=(300, 300), ddepth=cv2.CV_8U),
                scalefactor=1.0 / 127.5,
                mean=[127.5, 127.5, 127.5],
            )
        net.forward()
    except cv2.error as e:
        raise fault(model, f"cv2.dnn.readNetFromCaffe: {cv_error(cv2, e)}") from None


def load_torch(path):
    """OpenFace: readNetFromTorch, one 96x96 face."""
    cv2, np = lib("cv2"), lib("numpy")
    if cv2 is None or np is None:
        return
    try:
        net = cv2.dnn.readNetFromTorch(path)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        face = np.full((96, 96, 3), 128, np.uint8)
        net.setInput(
            cv2.dnn.blobFromImage(face, 1.0 / 255, (96, 96), (0, 0, 0), swapRB=True, crop=False)
        )
        net.forward()
    except cv2.error as e:
        raise fault(path, f"cv2.dnn.readNetFromTorch: {cv_error(cv2, e)}") from None


def load_cascade(path):
    """FaceAligner: cv2.CascadeClassifier (an unusable file gives an empty classifier)."""
    cv2 = lib("cv2")
    if cv2 is None:
        return
    try:
        empty = cv2.CascadeClassifier(path).empty()
    except cv2.error as e:
        raise fault(path, f"cv2.CascadeClassifier: {cv_error(cv2, e)}") from None
    if empty:
        raise fault(path, "cv2.CascadeClassifier is empty")


def load_face_model(facemodel, baselines):
    """FaceRecon: pickle.loads of {"svm", "labels"}, predict_proba, FaceBaselines (h5py)."""
    np, h5py = lib("numpy"), lib("h5py")
    if np is None or lib("sklearn") is None:
        return
    try:
        with open(facemodel, "rb") as f:
            model = pickle.loads(f.read())
        classes = list(model["labels"].classes_)
        model["svm"].predict_proba(np.zeros((1, 128)))
    except Exception as e:  # what FaceRecon's constructor would raise
        raise fault(facemodel, f"{type(e).__name__}: {e}") from None
    if h5py is None:
        return
    try:
        with h5py.File(baselines, "r") as f:
            for name in classes:
                f[name].attrs.get("threshold")
    except Exception as e:
        raise fault(baselines, f"{type(e).__name__}: {e}") from None


def load_tflite(path):
    """pycoral's make_interpreter + detect adapter; without tflite_runtime (the local fleet),
    the model's interface as the interpreter would show it."""
    checks = lib("modelfiles")
    if checks is None:
        return
    try:
        with open(path, "rb") as f:
            inputs, outputs = checks.tflite_interface(f.read())
    except (OSError, ValueError, checks.Fault) as e:
        raise fault(path, e) from None
    if len(inputs) != 1 or len(inputs[0][0]) != 4 or inputs[0][0][3] != 3 or inputs[0][1] != 3:
        raise fault(path, f"input {inputs} is not one [1, H, W, 3] uint8 image")
    if outputs != 4:
        raise fault(path, f"{outputs} outputs, not the 4 of an SSD detector")


def read_yaml(path, loaded):
    """``readConfig``: yaml.safe_load of the file, recorded as read."""
    load_file(path, loaded, what="config file")
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot parse {path}: {' '.join(str(e).split())}") from None
    return {} if doc is None else doc
