"""The shipped probe (registry ``probe: builtin``): load a model version the way SentinelCam does.

    PYTHON -c "$(cat model_probe.py)" MODEL FILE...

The health gate runs it on the node as the service user with the service's own Python (the
sentinel's or imagenode's virtualenv when it has one, else python3), within ``probe_timeout``.
It loads the version's files with SentinelCam's loaders (tasklibrary.py, taskfactory.py,
facedata.py) and runs one forward pass on a synthetic image:

- mobilenet_ssd, face_detection: ``cv2.dnn.readNetFromCaffe`` (CPU target, OpenCV backend);
- openface_torch: ``cv2.dnn.readNetFromTorch`` on a 96x96 face;
- haarcascades: ``cv2.CascadeClassifier`` (not empty), ``detectMultiScale``;
- face_recognition: ``pickle.loads`` of the face model, its ``svm.predict_proba`` on a 128-d
  embedding, its ``labels.classes_``, and ``h5py`` for the baselines (a dataset per label);
- EdgeTPU ``.tflite`` models: ``tflite_runtime`` with the EdgeTPU delegate where a Coral is
  attached; a CPU ``.tflite`` with the CPU interpreter;
- mobilenet_ssd_depthai: ``depthai.NNArchive`` when depthai is installed.

A library the node lacks (or a Coral it does not have) is reported on stdout as one
``note: ...`` line and the probe passes: the gate records the note. A file that does not load
is one line on stderr and exit 1. Standard library plus the loaders themselves.

    PYTHON -c "$(cat model_probe.py)" --each '[["MODEL", "FILE", ...], ...]'

loads several models in turn in one process (the gate's probes that share a Python: OpenCV,
NumPy and scikit-learn are imported once, not once per model) and prints one line per model,
``sentinelcam-probe {"index": i, "code": 0|1, "out": "..."}``, as it finishes it: the exit code
and output the single form would have given.
"""

import json
import os
import pickle
import sys

NOTES: list[str] = []


class Refused(Exception):
    pass


def need(module):
    try:
        return __import__(module)
    except ImportError:
        return None


def note(model, what):
    NOTES.append(f"note: {model}: {what} for {sys.executable}; not loaded")


def first_line(exc):
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return " ".join(f"{type(exc).__name__}: {text}".split())[:240]


def frame(np, height=240, width=320):
    """A synthetic camera frame: a gradient with a bright square, uint8 BGR."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    image[:, :, 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    image[height // 4 : height // 2, width // 4 : width // 2] = 230
    return image


def caffe(model, files, cv2, np):
    proto = next(f for f in files if f.endswith(".prototxt"))
    weights = next(f for f in files if f.endswith(".caffemodel"))
    try:
        net = cv2.dnn.readNetFromCaffe(proto, weights)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        image = frame(np)
        if model == "face_detection":  # tasklibrary.FaceDetector.detect
            blob = cv2.dnn.blobFromImage(
                cv2.resize(image, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0)
            )
            net.setInput(blob)
        else:  # tasklibrary.MobileNetSSD.detect
            blob = cv2.dnn.blobFromImage(image, size=(300, 300), ddepth=cv2.CV_8U)
            net.setInput(blob, scalefactor=1.0 / 127.5, mean=[127.5, 127.5, 127.5])
        net.forward()
    except cv2.error as exc:
        raise Refused(f"{weights} does not load (readNetFromCaffe): {first_line(exc)}") from None


def torch(files, cv2, np):
    path = next(f for f in files if f.endswith(".t7"))
    try:
        net = cv2.dnn.readNetFromTorch(path)  # tasklibrary.OpenFace
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        face = cv2.resize(frame(np), (96, 96))
        net.setInput(cv2.dnn.blobFromImage(face, 1.0 / 255, (96, 96), (0, 0, 0), swapRB=True))
        net.forward()
    except cv2.error as exc:
        raise Refused(f"{path} does not load (readNetFromTorch): {first_line(exc)}") from None


def cascade(files, cv2, np):
    path = next(f for f in files if f.endswith(".xml"))
    try:
        detector = cv2.CascadeClassifier(path)  # tasklibrary.get_eyesHaarCascade
        if detector.empty():
            raise Refused(f"{path} does not load: cv2.CascadeClassifier is empty")
        detector.detectMultiScale(cv2.cvtColor(frame(np), cv2.COLOR_BGR2GRAY))
    except cv2.error as exc:
        raise Refused(f"{path} does not load (CascadeClassifier): {first_line(exc)}") from None


def face_model(files, np):
    path = next(f for f in files if f.endswith(".pickle"))
    try:
        with open(path, "rb") as handle:
            loaded = pickle.loads(handle.read())  # taskfactory.FaceRecon
        svm, labels = loaded["svm"], loaded["labels"]
        classes = list(labels.classes_)
        svm.predict_proba(np.full((1, 128), 0.05))
    except Exception as exc:
        raise Refused(f"{path} does not load as the face model: {first_line(exc)}") from None
    baselines = [f for f in files if f.endswith(".hdf5")]
    h5py = need("h5py")
    if not baselines:
        return
    if h5py is None:
        note("face_recognition", "no h5py (baselines.hdf5)")
        return
    try:
        with h5py.File(baselines[0], "r") as handle:  # facedata.FaceBaselines
            for name in classes:
                handle[name][()]
                handle[name].attrs.get("threshold")
    except Exception as exc:
        raise Refused(f"{baselines[0]} does not load as the baselines: {first_line(exc)}") from None


def tflite(model, files):
    path = next(f for f in files if f.endswith(".tflite"))
    runtime = need("tflite_runtime.interpreter")
    if runtime is None:
        note(model, "no tflite_runtime")
        return
    interpreter = sys.modules["tflite_runtime.interpreter"]
    try:
        if path.endswith("_edgetpu.tflite"):
            edgetpu = need("pycoral.utils.edgetpu") and sys.modules["pycoral.utils.edgetpu"]
            if not edgetpu or not edgetpu.list_edge_tpus():
                note(model, "no Coral accelerator attached (EdgeTPU model)")
                return
            net = edgetpu.make_interpreter(path)
        else:
            net = interpreter.Interpreter(model_path=path)
        net.allocate_tensors()
        details = net.get_input_details()[0]
        np = need("numpy")
        net.set_tensor(details["index"], np.zeros(details["shape"], details["dtype"]))
        net.invoke()
    except Exception as exc:
        raise Refused(f"{path} does not load (tflite_runtime): {first_line(exc)}") from None


def depthai_archive(model, files):
    path = next(f for f in files if f.endswith(".tar.xz"))
    depthai = need("depthai")
    if depthai is None or not hasattr(depthai, "NNArchive"):
        note(model, "no depthai v3")
        return
    try:
        depthai.NNArchive(path)
    except Exception as exc:
        raise Refused(f"{path} does not load (depthai.NNArchive): {first_line(exc)}") from None


def probe(model, files):
    for path in files:
        if not os.path.isfile(path):
            raise Refused(f"{path} is not installed")
    suffixes = {os.path.splitext(f)[1] for f in files}
    if ".tflite" in suffixes:
        return tflite(model, files)
    if ".xz" in suffixes:
        return depthai_archive(model, files)
    needs_cv2 = suffixes & {".caffemodel", ".t7", ".xml"}
    needs_sklearn = ".pickle" in suffixes
    cv2, np = need("cv2") if needs_cv2 else None, need("numpy")
    if needs_cv2 and (cv2 is None or np is None):
        return note(model, "no cv2 (OpenCV)")
    if needs_sklearn and (np is None or need("sklearn") is None):
        return note(model, "no scikit-learn")
    if ".caffemodel" in suffixes:
        caffe(model, files, cv2, np)
    if ".t7" in suffixes:
        torch(files, cv2, np)
    if ".xml" in suffixes:
        cascade(files, cv2, np)
    if needs_sklearn:
        face_model(files, np)
    if not (needs_cv2 or needs_sklearn):
        for path in files:  # a model SentinelCam does not load itself: readable is all we know
            with open(path, "rb") as handle:
                while handle.read(1 << 20):
                    pass
    return None


def one(model, files):
    """(exit code, output lines) of probing ``model``'s ``files``, as the single form gives them."""
    NOTES.clear()
    try:
        probe(model, files)
    except Refused as exc:
        return 1, [f"{model}: {exc}"]
    except OSError as exc:
        return 1, [f"{model}: {first_line(exc)}"]
    return 0, NOTES[:3]


def each(argv):
    """``--each JSON``: every ``[MODEL, FILE...]`` in turn, one result line each."""
    try:
        items = json.loads(argv[0]) if len(argv) == 1 else None
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(
        isinstance(i, list) and len(i) >= 2 and all(isinstance(a, str) for a in i) for i in items
    ):
        print('usage: model_probe.py --each \'[["MODEL", "FILE", ...], ...]\'', file=sys.stderr)
        return 2
    for index, (model, *files) in enumerate(items):
        try:
            code, lines = one(model, files)
        except Exception as exc:  # one model's loader failing oddly fails that model alone
            code, lines = 1, [f"{model}: {first_line(exc)}"]
        result = {"index": index, "code": code, "out": " | ".join(lines)}
        print("sentinelcam-probe " + json.dumps(result, sort_keys=True), flush=True)
    return 0


def main(argv):
    if argv[:1] == ["--each"]:
        return each(argv[1:])
    if len(argv) < 2:
        print("usage: model_probe.py MODEL FILE...", file=sys.stderr)
        return 2
    model, files = argv[0], argv[1:]
    code, lines = one(model, files)
    for line in lines:
        print(line, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
