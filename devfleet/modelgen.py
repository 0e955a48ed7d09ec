"""Tiny real model files for the local fleet: what OpenCV, h5py and scikit-learn load for real.

The demo store and the fleet tests publish versions whose files the real loaders accept (the
stand-in services and the probes load them with ``cv2.dnn.readNetFromCaffe``,
``readNetFromTorch``, ``pickle`` and ``h5py``), so a broken version is a real broken file, not a
marker. Formats written byte by byte here (standard library only, deterministic per seed):

- a Caffe net: the prototxt (protobuf text) and the caffemodel (NetParameter in protobuf wire
  format: one 3x3 convolution, plus an unused layer of weights that brings the file to its size;
  OpenCV takes weights by layer name and ignores it);
- a Torch7 ``nn.Sequential`` holding one ``nn.SpatialConvolution`` (what ``torch.save`` writes),
  its padding an extra tensor in the Sequential's table;
- TFLite FlatBuffers (TFL3): a CPU model (one RELU) and an EdgeTPU-compiled one (the
  ``edgetpu-custom-op`` custom operator, as edgetpu_compiler writes it);
- the DepthAI NN archive (tar.xz with config.json and a blob), COCO labels, a face list;

and, with the node's numpy, scikit-learn and h5py (``node_files``, run on a fleet node by
``python3 -m``-less ``python3 - < modelgen.py``): the face model pickle ({"svm": SVC,
"labels": LabelEncoder}, as the trainer writes it), baselines.hdf5 (one dataset per label with a
``threshold`` attribute) and facedata.hdf5. The Haar cascade is Debian's own
``haarcascade_eye.xml`` (opencv-data), read on a node.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import subprocess
import sys
import tarfile

# --- protobuf wire format -----------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _floats(values) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def _blob(shape: list[int], values) -> bytes:
    # BlobProto: shape = 7 (BlobShape: dim = 1, packed int64), data = 5 (packed float)
    dims = b"".join(_varint(d) for d in shape)
    return _field(7, _field(1, dims)) + _field(5, _floats(values))


def _conv_layer(name: str, outputs: int, inputs: int, rng: random.Random, kernel: int = 3) -> bytes:
    weights = [rng.uniform(-0.5, 0.5) for _ in range(outputs * inputs * kernel * kernel)]
    bias = [rng.uniform(-0.1, 0.1) for _ in range(outputs)]
    return (
        _field(1, name)
        + _field(2, "Convolution")
        + _field(7, _blob([outputs, inputs, kernel, kernel], weights))
        + _field(7, _blob([outputs], bias))
    )


CAFFE_PROTOTXT = """name: "sentinelcam-tiny"
input: "data"
input_shape { dim: 1 dim: 3 dim: 300 dim: 300 }
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param { num_output: 2 kernel_size: 3 stride: 2 }
}
layer {
  name: "relu1"
  type: "ReLU"
  bottom: "conv1"
  top: "conv1"
}
"""


def caffe_prototxt(size: int = 0, seed: str = "") -> bytes:
    text = CAFFE_PROTOTXT
    rng = random.Random(f"prototxt/{seed}")
    while len(text) < size:
        text += f"# {rng.getrandbits(128):032x}\n"
    return text.encode()


def caffemodel(size: int = 0, seed: str = "", broken: bool = False) -> bytes:
    """A NetParameter with the prototxt's weights; an unused layer of weights fills ``size``.
    ``broken``: well-formed, but conv1's weights are 5x5 where the net says 3x3."""
    rng = random.Random(f"caffemodel/{seed}")
    conv = _conv_layer("conv1", 2, 3, rng, kernel=5 if broken else 3)
    data = _field(1, "sentinelcam-tiny") + _field(100, conv)
    room = size - len(data) - 64
    if room > 0:
        count = room // 4
        pad = _field(1, "unused_weights") + _field(2, "Convolution")
        pad += _field(7, _pad_blob(count, rng))
        data += _field(100, pad)
    return data


def _pad_blob(count: int, rng: random.Random) -> bytes:
    dims = _varint(count)
    return _field(7, _field(1, dims)) + _field(5, rng.randbytes(4 * count))


# --- Torch7 (torch.save) ------------------------------------------------------------------------


class _T7:
    def __init__(self):
        self.out = io.BytesIO()
        self.index = 0

    def i32(self, v: int) -> None:
        self.out.write(struct.pack("<i", v))

    def i64(self, v: int) -> None:
        self.out.write(struct.pack("<q", v))

    def raw_string(self, s: str) -> None:
        self.i32(len(s))
        self.out.write(s.encode())

    def next_index(self) -> int:
        self.index += 1
        return self.index

    def value(self, v) -> None:
        if v is None:
            self.i32(0)
        elif isinstance(v, bool):
            self.i32(5)
            self.i32(int(v))
        elif isinstance(v, (int, float)):
            self.i32(1)
            self.out.write(struct.pack("<d", float(v)))
        elif isinstance(v, str):
            self.i32(2)
            self.raw_string(v)
        elif isinstance(v, tuple) and v[0] == "tensor":
            self.tensor(v[1], v[2])
        elif isinstance(v, tuple) and v[0] == "object":
            self.i32(4)
            self.i32(self.next_index())
            self.raw_string("V 1")
            self.raw_string(v[1])
            self.value(v[2])
        elif isinstance(v, dict):
            self.i32(3)
            self.i32(self.next_index())
            self.i32(len(v))
            for key, item in v.items():
                self.value(key)
                self.value(item)
        else:
            raise TypeError(type(v))

    def tensor(self, shape: list[int], data: bytes) -> None:
        self.i32(4)
        self.i32(self.next_index())
        self.raw_string("V 1")
        self.raw_string("torch.FloatTensor")
        self.i32(len(shape))
        strides: list[int] = []
        step = 1
        for dim in reversed(shape):
            strides.insert(0, step)
            step *= dim
        for dim in shape:
            self.i64(dim)
        for stride in strides:
            self.i64(stride)
        self.i64(1)  # storage offset, 1-based
        self.i32(4)
        self.i32(self.next_index())
        self.raw_string("V 1")
        self.raw_string("torch.FloatStorage")
        self.i64(len(data) // 4)
        self.out.write(data)


def torch7(size: int = 0, seed: str = "", broken: bool = False) -> bytes:
    """nn.Sequential { nn.SpatialConvolution(3 -> 2, 3x3, stride 2) }, padded to ``size``.
    ``broken``: well-formed, but the convolution takes 7 input planes (the image has 3)."""
    rng = random.Random(f"torch7/{seed}")
    planes = 7 if broken else 3
    weight = _floats([rng.uniform(-0.5, 0.5) for _ in range(2 * planes * 9)])
    bias = _floats([rng.uniform(-0.1, 0.1) for _ in range(2)])
    conv = {
        "nInputPlane": planes,
        "nOutputPlane": 2,
        "kW": 3,
        "kH": 3,
        "dW": 2,
        "dH": 2,
        "padW": 0,
        "padH": 0,
        "weight": ("tensor", [2, planes, 3, 3], weight),
        "bias": ("tensor", [2], bias),
        "train": False,
    }
    table: dict = {"modules": {1: ("object", "nn.SpatialConvolution", conv)}, "train": False}
    room = size - 1024
    if room > 0:
        table["unused_weights"] = ("tensor", [room // 4], rng.randbytes(4 * (room // 4)))
    writer = _T7()
    writer.value(("object", "nn.Sequential", table))
    return writer.out.getvalue()


# --- FlatBuffers (TFLite) ----------------------------------------------------------------------


class _Table:
    def __init__(self, fields: list):
        self.fields = fields  # per field index: None, ("u8"|"i8"|"i32"|"u32", v) or a child


class _Vector:
    def __init__(self, items: list, kind: str = "table"):
        self.items, self.kind = items, kind  # kind: table | i32 | bytes | string


def _flatbuffer(root: _Table, ident: bytes) -> bytes:
    buf = bytearray(b"\0\0\0\0" + ident)
    pending: list[tuple[int, object]] = [(0, root)]  # (position of the uoffset, child)

    def align(n: int) -> None:
        while len(buf) % n:
            buf.append(0)

    def write(node: object) -> int:
        if isinstance(node, str):
            node = node.encode()
        if isinstance(node, bytes):
            align(16)
            at = len(buf)
            buf.extend(struct.pack("<I", len(node)) + node + b"\0")
            return at
        if isinstance(node, _Vector):
            align(4)
            at = len(buf)
            buf.extend(struct.pack("<I", len(node.items)))
            if node.kind == "i32":
                buf.extend(struct.pack(f"<{len(node.items)}i", *node.items))
            else:
                for item in node.items:
                    pending.append((len(buf), item))
                    buf.extend(b"\0\0\0\0")
            return at
        assert isinstance(node, _Table)
        layout, offset = [], 4
        for value in node.fields:
            if value is None:
                layout.append(0)
                continue
            layout.append(offset)
            offset += 4
        vtable = struct.pack(f"<HH{len(layout)}H", 4 + 2 * len(layout), offset, *layout)
        align(4)
        vt_at = len(buf)
        buf.extend(vtable)
        align(4)
        at = len(buf)
        buf.extend(struct.pack("<i", at - vt_at))
        for value in node.fields:
            if value is None:
                continue
            if isinstance(value, tuple):
                fmt = {"i32": "<i", "u32": "<I", "i8": "<i", "u8": "<I"}[value[0]]
                buf.extend(struct.pack(fmt, value[1]))
            else:
                pending.append((len(buf), value))
                buf.extend(b"\0\0\0\0")
        return at

    while pending:
        slot, child = pending.pop(0)
        target = write(child)
        struct.pack_into("<I", buf, slot, target - slot)
    return bytes(buf)


def tflite(edgetpu: bool, size: int = 0, seed: str = "", broken: bool = False) -> bytes:
    """EdgeTPU: an SSD detector's interface, as pycoral's detect adapter reads it: uint8
    [1, 300, 300, 3] in; boxes [1, 10, 4], classes, scores [1, 10] and count [1] out, through the
    ``edgetpu-custom-op`` (a CPU interpreter loads it and refuses the unresolved op at
    allocate_tensors, as with a real compiled model). CPU: a float32 RELU over the image, which
    LiteRT's interpreter loads and invokes. ``broken``: a float [1, 4] input, a model exported
    for another task. (Checked with PyPI's ai-edge-litert 2.3.0 while writing this.)"""
    rng = random.Random(f"tflite/{seed}")
    if edgetpu:
        code = _Table([("i8", 32), "edgetpu-custom-op", ("i32", 1), ("i32", 32)])
    else:
        code = _Table([("i8", 19), None, ("i32", 1), ("i32", 19)])
    shapes = [([1, 4], 0)] if broken else [([1, 300, 300, 3], 3 if edgetpu else 0)]
    if edgetpu:
        shapes += [([1, 10, 4], 0), ([1, 10], 0), ([1, 10], 0), ([1], 0)]
    else:
        shapes += [(shapes[0][0], 0)]
    tensor = [
        _Table([_Vector(shape, "i32"), ("i8", kind), ("u32", 0), f"t{i}"])
        for i, (shape, kind) in enumerate(shapes)
    ]
    outputs = _Vector(list(range(1, len(shapes))), "i32")
    op = _Table([("u32", 0), _Vector([0], "i32"), outputs])
    subgraph = _Table([_Vector(tensor), _Vector([0], "i32"), outputs, _Vector([op])])
    buffers = [_Table([])]
    if size > 2048:
        buffers.append(_Table([rng.randbytes(size - 2048)]))  # the compiled weights' place
    model = _Table(
        [
            ("u32", 3),
            _Vector([code]),
            _Vector([subgraph]),
            "sentinelcam-tiny" + (" edgetpu" if edgetpu else ""),
            _Vector(buffers),
        ]
    )
    return _flatbuffer(model, b"TFL3")


# --- archives and text --------------------------------------------------------------------------


def nn_archive(size: int = 0, seed: str = "") -> bytes:
    rng = random.Random(f"nnarchive/{seed}")
    config = {
        "config_version": "1.0",
        "model": {
            "metadata": {
                "name": "mobilenet-ssd",
                "path": "mobilenet-ssd.blob",
                "precision": "float16",
            },
            "inputs": [{"name": "data", "shape": [1, 3, 300, 300], "layout": "NCHW"}],
            "outputs": [{"name": "detection_out"}],
            "heads": [{"parser": "SSD", "metadata": {"classes": ["background", "person"]}}],
        },
    }
    members = {
        "config.json": json.dumps(config, indent=2).encode(),
        "mobilenet-ssd.blob": rng.randbytes(max(64, size - 2048)),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:xz", preset=0) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


COCO = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"]


def labels(size: int = 0, seed: str = "") -> bytes:
    lines = [f"{i}  {name}" for i, name in enumerate(COCO)]
    i = len(lines)
    while sum(len(x) + 1 for x in lines) < size:
        lines.append(f"{i}  class{i}")
        i += 1
    return ("\n".join(lines) + "\n").encode()


FACELIST_HEADER = (
    "date,event,timestamp,objid,source,status,name,proba,dist,margin,"
    "x1,y1,x2,y2,rx,ry,lx,ly,dx,dy,angle,focus,date_in_use"
)
FACE_NAMES = ("alice", "bob", "carol")


def facelist(size: int = 0, seed: str = "") -> bytes:
    rng = random.Random(f"facelist/{seed}")
    lines = [FACELIST_HEADER]
    total = len(FACELIST_HEADER) + 1
    while total < max(size, 200):
        name = rng.choice(FACE_NAMES)
        row = (
            f"2026-01-{rng.randint(10, 28)},{rng.getrandbits(32):08x},"
            f"2026-01-15 10:{rng.randint(10, 59)}:00.000000,{rng.randint(1, 9)},data1,2,{name},"
            f"0.99,0.5,0.1,10,10,80,80,30,40,60,40,30,0,0.0,120.5,2026-01-20"
        )
        lines.append(row)
        total += len(row) + 1
    return ("\n".join(lines) + "\n").encode()


# --- the files of one version -------------------------------------------------------------------

# Without a fleet (unit tests): files that pass the format checks but that no loader was asked
# about: a pickle naming the trainer's classes, an HDF5 superblock, an empty cascade.
STDLIB_TEMPLATES = {
    "facemodel.pickle": (
        b"\x80\x02}q\x00(X\x03\x00\x00\x00svmq\x01csklearn.svm._classes\nSVC\nq\x02)\x81q\x03"
        b"}q\x04bX\x06\x00\x00\x00labelsq\x05csklearn.preprocessing._label\nLabelEncoder\nq\x06)"
        b"\x81q\x07}q\x08bu."
    ),
    "wrong-class.pickle": b"\x80\x02]q\x00(K\x01K\x02e.",
    "haarcascade_eye.xml": (
        b'<?xml version="1.0"?>\n<opencv_storage>\n<cascade>\n  <stageType>BOOST</stageType>\n'
        b"  <featureType>HAAR</featureType>\n  <height>20</height>\n  <width>20</width>\n"
        b"  <stages></stages>\n</cascade>\n</opencv_storage>\n"
    ),
}


def hdf5_stub(size: int = 96) -> bytes:
    """An HDF5 version 0 superblock whose end-of-file address is ``size``."""
    undefined = b"\xff" * 8
    head = b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HHI", 4, 16, 0)
    head += struct.pack("<Q", 0) + undefined + struct.pack("<Q", size) + undefined
    return head + bytes(max(0, size - len(head)))


BROKEN_EMPTY_CASCADE = STDLIB_TEMPLATES["haarcascade_eye.xml"]


def file_bytes(
    name: str, size: int, seed: str, templates: dict[str, bytes], broken: bool = False
) -> bytes:
    """A valid file for ``name``'s format, about ``size`` bytes, different per ``seed``;
    ``broken``: one that passes the format checks but that the loader refuses."""
    if name.endswith(".prototxt"):
        return caffe_prototxt(size, seed)
    if name.endswith(".caffemodel"):
        return caffemodel(size, seed, broken)
    if name.endswith(".t7"):
        return torch7(size, seed, broken)
    if name.endswith(".tflite"):
        return tflite(name.endswith("_edgetpu.tflite"), size, seed, broken)
    if name.endswith(".tar.xz"):
        return nn_archive(size, seed)
    if name.endswith("labels.txt"):
        return labels(size, seed)
    if name == "facelist.csv":
        return facelist(size, seed)
    if name.endswith(".pickle"):
        return templates["wrong-class.pickle" if broken else "facemodel.pickle"]
    if name.endswith(".xml"):
        return BROKEN_EMPTY_CASCADE if broken else templates["haarcascade_eye.xml"]
    if name.endswith((".hdf5", ".h5")):
        base = templates.get(name) or hdf5_stub()
        # After the file's end-of-file address: h5py reads the file, rsync sees new bytes.
        pad = random.Random(f"hdf5/{seed}").randbytes(max(16, size - len(base)))
        return base + pad
    return random.Random(seed).randbytes(size)


# --- on a node: numpy, scikit-learn, h5py, opencv-data ------------------------------------------

HAARCASCADE = "/usr/share/opencv4/haarcascades/haarcascade_eye.xml"


def node_files() -> dict[str, bytes]:
    """The files only the node's libraries write: run on a fleet node (``python3 -``)."""
    import pickle  # noqa: PLC0415  (node-only libraries: imported where they run)

    import h5py  # type: ignore[import-not-found]  # noqa: PLC0415
    import numpy as np  # type: ignore[import-not-found]  # noqa: PLC0415
    from sklearn.preprocessing import LabelEncoder  # type: ignore[import-not-found]  # noqa: PLC0415
    from sklearn.svm import SVC  # type: ignore[import-not-found]  # noqa: PLC0415

    rng = np.random.default_rng(7)
    names = np.array(FACE_NAMES)
    samples = np.vstack([rng.normal(i, 0.3, (12, 128)) for i in range(len(names))])
    targets = np.repeat(names, 12)
    encoder = LabelEncoder().fit(targets)
    svm = SVC(kernel="linear", probability=True, random_state=0).fit(
        samples, encoder.transform(targets)
    )
    out = {
        "facemodel.pickle": pickle.dumps({"svm": svm, "labels": encoder}),
        # A valid pickle of the wrong class: the checks pass it, FaceRecon cannot use it.
        "wrong-class.pickle": pickle.dumps({"svm": encoder, "labels": encoder}),
    }
    for name, shape in (("baselines.hdf5", (128,)), ("facedata.hdf5", (4, 128))):
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            for i, label in enumerate(names):
                data = f.create_dataset(label, data=rng.normal(i, 0.3, shape))
                data.attrs["threshold"] = 0.75
        out[name] = buffer.getvalue()
    with open(HAARCASCADE, "rb") as f:
        out["haarcascade_eye.xml"] = f.read()
    return out


_CACHE: dict[str, dict[str, bytes]] = {}


def _generate_on_node(fleet: dict, source: bytes, cache: str) -> None:
    node = fleet["nodes"][0]["address"]
    ssh = [
        "ssh", "-F", "/dev/null", "-i", fleet["ssh_key"], "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={fleet['known_hosts']}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", f"ops@{node}", "python3", "-", "node-files",
    ]  # fmt: skip
    proc = subprocess.run(ssh, input=source, capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-500:]
        raise RuntimeError(f"generating models on {node} failed: {tail}")
    json.loads(proc.stdout)  # one JSON document, or an error here
    tmp = f"{cache}.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(proc.stdout)
    os.replace(tmp, cache)


def templates() -> dict[str, bytes]:
    """The files only a node's libraries write, made on a node of the local fleet (as the service
    user, with the node's own python3) once per generator and node root, cached in the fleet's
    state directory; ``STDLIB_TEMPLATES`` when no fleet is up (unit tests)."""
    state = os.environ.get("SENTINELCAM_FLEET_DIR") or "/var/lib/sentinelcam-fleet"
    try:
        with open(os.path.join(state, "fleet.json"), encoding="utf-8") as f:
            fleet = json.load(f)
    except (OSError, ValueError):
        return dict(STDLIB_TEMPLATES)
    with open(__file__, "rb") as f:
        source = f.read()
    key = hashlib.sha256(source + str(fleet.get("root", "")).encode()).hexdigest()[:16]
    if key in _CACHE:
        return _CACHE[key]
    cache = os.path.join(state, f"modelgen-{key}.json")
    if not os.path.exists(cache):
        _generate_on_node(fleet, source, cache)
    with open(cache, encoding="utf-8") as f:
        documents = json.load(f)
    _CACHE[key] = {name: bytes.fromhex(text) for name, text in documents.items()}
    return _CACHE[key]


if __name__ == "__main__" and sys.argv[1:] == ["node-files"]:
    documents = {name: data.hex() for name, data in node_files().items()}
    sys.stdout.write(json.dumps(documents))
