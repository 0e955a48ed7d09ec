"""Model file format checks: does each file hold what the runtime that loads it expects?

A version whose manifest matches can still hold a truncated caffemodel, a CPU ``.tflite`` in an
``_edgetpu`` slot or an HTML error page saved as ``baselines.hdf5``; every job of every sentinel
that loads it fails after the rollout. These checks read a file's structure without running it
(a pickle is walked opcode by opcode, never loaded) and answer one line naming the fault. The
store runs them at publish and adopt and in ``verify --deep``, on the datasink too: standard
library only, no file system access of its own (the caller opens the file and passes a binary,
seekable handle and its size), bounded memory.

The format of a file comes from its name (``file_format``): every file the catalog names maps to
one (``tests/unit/test_modelfiles.py`` checks that), and the same suffix rules cover the
registry's blazeface variants and models the catalog does not know.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import struct
import tarfile
from collections.abc import Callable
from typing import BinaryIO
from xml.parsers import expat

CAFFEMODEL = "Caffe model (protobuf NetParameter)"
PROTOTXT = "Caffe net definition (protobuf text)"
TFLITE_EDGETPU = "EdgeTPU TFLite model"
TFLITE_CPU = "CPU TFLite model"
HDF5 = "HDF5 file"
PICKLE = "face model pickle"
TORCH7 = "Torch7 model"
HAARCASCADE = "OpenCV Haar cascade (XML)"
NN_ARCHIVE = "DepthAI NN archive (tar.xz)"
LABELS = "labels text file"
FACELIST = "face list (CSV)"

_EXACT = {"facelist.csv": FACELIST}
_SUFFIXES = (
    (".caffemodel", CAFFEMODEL),
    (".prototxt", PROTOTXT),
    ("_edgetpu.tflite", TFLITE_EDGETPU),
    (".tflite", TFLITE_CPU),
    (".hdf5", HDF5),
    (".h5", HDF5),
    (".pickle", PICKLE),
    (".t7", TORCH7),
    (".xml", HAARCASCADE),
    (".tar.xz", NN_ARCHIVE),
    ("labels.txt", LABELS),
)

TEXT_MAX = 16 << 20  # labels, face lists, prototxt, cascades: far larger is not one of them
FLATBUFFER_MAX = 512 << 20
EDGETPU_OP = b"edgetpu-custom-op"
# The columns SentinelCam's FaceList reads (facedata.py, taskfactory.FaceSweep).
FACELIST_COLUMNS = (
    "date", "event", "timestamp", "objid", "status", "name",
    "x1", "y1", "x2", "y2", "rx", "ry", "lx", "ly", "dx", "dy", "angle", "focus",
)  # fmt: skip
# What the trainer pickles: {"svm": sklearn SVC, "labels": sklearn LabelEncoder} and the numpy
# arrays inside them. Classes of sklearn (a capitalised name outside its testing modules), sparse
# matrices, and numpy's array reconstruction: any other global (os.system, builtins.eval,
# numpy.load, numpy.testing's runstring, ...) is refused unread.
PICKLE_GLOBALS = frozenset(
    {
        ("_codecs", "encode"),
        ("copyreg", "_reconstructor"),
        ("collections", "OrderedDict"),
        ("builtins", "object"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "slice"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        *(
            (f"numpy.{core}.{module}", name)
            for core in ("core", "_core")
            for module, name in (
                ("multiarray", "_reconstruct"),
                ("multiarray", "scalar"),
                ("numeric", "_frombuffer"),
            )
        ),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
    }
)


class Fault(Exception):
    """What is wrong with a file, as one short phrase."""


def file_format(name: str) -> str | None:
    """The format a file of this name must have, or None for files no check knows."""
    base = name.rsplit("/", 1)[-1]
    if base in _EXACT:
        return _EXACT[base]
    for suffix, fmt in _SUFFIXES:
        if base.endswith(suffix):
            return fmt
    return None


def check_file(name: str, handle: BinaryIO, size: int) -> str | None:
    """None when the file holds its format; else one line: ``NAME: is not a ...: why``."""
    fmt = file_format(name)
    if fmt is None:
        return None
    try:
        handle.seek(0)
        _CHECKS[fmt](handle, size)
    except Fault as exc:
        return _line(f"{name}: not a valid {fmt}: {exc}")
    except (OSError, ValueError, EOFError, struct.error, tarfile.TarError) as exc:
        return _line(f"{name}: not a valid {fmt}: {type(exc).__name__}: {exc}")
    return None


def check_bytes(name: str, data: bytes) -> str | None:
    return check_file(name, io.BytesIO(data), len(data))


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _need(handle: BinaryIO, count: int, what: str) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise Fault(f"truncated in {what} (file ends at byte {handle.tell()})")
    return data


# --- protobuf wire format (caffemodel) ----------------------------------------------------------


def _varint(handle: BinaryIO, limit: int) -> int:
    value = shift = 0
    while True:
        if handle.tell() >= limit:
            raise Fault(f"truncated in a varint at byte {handle.tell()}")
        byte = handle.read(1)
        if not byte:
            raise Fault(f"truncated in a varint at byte {handle.tell()}")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise Fault(f"a varint longer than 10 bytes at byte {handle.tell()}")


def _fields(handle: BinaryIO, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """Every field of the message in [start, end): (number, wire type, value start, value end).

    Length-delimited values are skipped, not read; a field running past ``end`` is a fault."""
    handle.seek(start)
    found = []
    while handle.tell() < end:
        at = handle.tell()
        key = _varint(handle, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Fault(f"field number 0 at byte {at}")
        if wire == 0:
            begin = handle.tell()
            _varint(handle, end)
            found.append((number, wire, begin, handle.tell()))
            continue
        if wire == 2:
            length = _varint(handle, end)
            begin = handle.tell()
        elif wire in (1, 5):
            begin, length = handle.tell(), 8 if wire == 1 else 4
        else:
            raise Fault(f"wire type {wire} at byte {at} (not protobuf)")
        if begin + length > end:
            raise Fault(
                f"field {number} at byte {at} runs {begin + length - end} bytes past the end"
            )
        handle.seek(begin + length)
        found.append((number, wire, begin, begin + length))
    return found


def _check_caffemodel(handle: BinaryIO, size: int) -> None:
    # NetParameter: name = 1, layers = 2 (V1LayerParameter), layer = 100 (LayerParameter).
    layers = [f for f in _fields(handle, 0, size) if f[0] in (2, 100) and f[1] == 2]
    if not layers:
        raise Fault("no layers")
    blobs = 0
    for number, _, begin, end in layers:
        inner = _fields(handle, begin, end)
        name_field, blob_field = (1, 7) if number == 100 else (4, 6)
        if not any(f[0] == name_field and f[1] == 2 for f in inner):
            raise Fault(f"a layer at byte {begin} has no name")
        blobs += sum(1 for f in inner if f[0] == blob_field and f[1] == 2)
    if not blobs:
        raise Fault(f"{len(layers)} layers but no weights")


# --- text formats -------------------------------------------------------------------------------


def _text(handle: BinaryIO, size: int) -> str:
    if size == 0:
        raise Fault("empty")
    if size > TEXT_MAX:
        raise Fault(f"{size} bytes, more than {TEXT_MAX} for a text file")
    data = handle.read(size)
    nul = data.find(b"\0")
    if nul >= 0:
        raise Fault(f"a NUL byte at byte {nul} (binary, not text)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Fault(f"not UTF-8 at byte {exc.start}") from None
    if re.match(r"\s*<(!doctype\s+html|html|head|body)\b", text, re.I):
        raise Fault("an HTML page")
    return text


_PROTO_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*|[{}]|[^\s{}"\'#]+')


def _check_prototxt(handle: BinaryIO, size: int) -> None:
    text = _text(handle, size)
    depth = 0
    top: list[str] = []
    previous = ""
    for match in _PROTO_TOKEN.finditer(text):
        token = match.group()
        if token.startswith("#"):
            continue
        if token == "{":
            if depth == 0:
                top.append(previous.rstrip(":"))
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                raise Fault(f"unbalanced '}}' at character {match.start()}")
        elif depth == 0 and not token.startswith(("'", '"')):
            top.append(token.rstrip(":"))
        previous = token
    if depth:
        raise Fault(f"{depth} unclosed '{{' at the end (truncated?)")
    if not {"layer", "layers"} & set(top):
        raise Fault("no layer { ... } blocks")
    if "input" not in top and "input_shape" not in top and not re.search(r'type:\s*"Input"', text):
        raise Fault("names no input (input:, input_shape or an Input layer)")


def _check_labels(handle: BinaryIO, size: int) -> None:
    lines = [line for line in _text(handle, size).splitlines() if line.strip()]
    if not lines:
        raise Fault("no labels")
    first = lines[0].strip()
    # pycoral's read_label_file: "ID LABEL" / "ID: LABEL" per line, or one label per line.
    if not re.fullmatch(r"(\d+[:\s]+)?\S.*", first) or first.startswith("<"):
        raise Fault(f"the first line {first[:40]!r} is not a label")
    bad = next((line for line in lines if len(line) > 200), None)
    if bad is not None:
        raise Fault(f"a line of {len(bad)} characters (not a label)")


def _check_facelist(handle: BinaryIO, size: int) -> None:
    header = _text(handle, size).splitlines()[0]
    columns = [c.strip().strip('"') for c in header.split(",")]
    missing = [c for c in FACELIST_COLUMNS if c not in columns]
    if missing:
        raise Fault(f"the header lacks {', '.join(missing)}")


class _CascadeSeen(Exception):
    pass


def _check_haarcascade(handle: BinaryIO, size: int) -> None:
    if size > TEXT_MAX:
        raise Fault(f"{size} bytes, more than {TEXT_MAX} for a cascade")
    parser = expat.ParserCreate()
    depth = [0]
    root: list[str] = []
    cascade: list[bool] = []

    def start(name: str, attrs: dict) -> None:
        if depth[0] == 0:
            root.append(name)
        elif depth[0] == 1 and (
            name == "cascade" or attrs.get("type_id") == "opencv-haar-classifier"
        ):
            cascade.append(True)
        depth[0] += 1

    def end(name: str) -> None:
        depth[0] -= 1

    def doctype(*_: object) -> None:
        raise Fault("a DOCTYPE (cascades have none; entities are refused)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        while chunk := handle.read(1 << 16):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise Fault(f"XML error: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    if root[:1] != ["opencv_storage"]:
        raise Fault(f"the root element is {root[0] if root else None!r}, not opencv_storage")
    if not cascade:
        raise Fault("no cascade in opencv_storage")


# --- binary formats -----------------------------------------------------------------------------


class _Flat:
    """Bounds-checked reads of a FlatBuffer (the TFLite schema, tensorflow/lite/schema)."""

    def __init__(self, data: bytes):
        self.data = data

    def _at(self, fmt: str, pos: int) -> int:
        width = struct.calcsize(fmt)
        if pos < 0 or pos + width > len(self.data):
            raise Fault(f"an offset points outside the file (byte {pos}; truncated?)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int) -> Callable[[int], int | None]:
        """field index -> absolute position of the field, or None when absent."""
        vtable = pos - self._at("<i", pos)
        vsize = self._at("<H", vtable)

        def field(index: int) -> int | None:
            slot = 4 + 2 * index
            if slot + 2 > vsize:
                return None
            offset = self._at("<H", vtable + slot)
            return pos + offset if offset else None

        return field

    def ref(self, pos: int) -> int:
        return pos + self._at("<I", pos)

    def vector(self, pos: int, width: int) -> tuple[int, int]:
        """(first element's position, length)."""
        start = self.ref(pos)
        length = self._at("<I", start)
        if start + 4 + length * width > len(self.data):
            raise Fault(f"a vector of {length} at byte {start} runs past the end (truncated?)")
        return start + 4, length

    def string(self, pos: int) -> bytes:
        start, length = self.vector(pos, 1)
        return self.data[start : start + length]


def _check_tflite(handle: BinaryIO, size: int, edgetpu: bool) -> None:
    if size < 16:
        raise Fault(f"{size} bytes")
    if size > FLATBUFFER_MAX:
        raise Fault(f"{size} bytes, more than {FLATBUFFER_MAX}")
    data = handle.read(size)
    if data[4:8] != b"TFL3":
        raise Fault(f"no TFL3 FlatBuffer identifier (starts {data[:8]!r})")
    flat = _Flat(data)
    model = flat.table(flat.ref(0))
    codes, subgraphs, buffers = model(1), model(2), model(4)
    if subgraphs is None or flat.vector(subgraphs, 4)[1] == 0:
        raise Fault("no subgraphs")
    start, count = flat.vector(subgraphs, 4)
    for index in range(count):  # tensors (shape, name), inputs, outputs, operators' in/outs
        subgraph = flat.table(flat.ref(start + 4 * index))
        for field, width in ((1, 4), (2, 4)):
            if (pos := subgraph(field)) is not None:
                flat.vector(pos, width)
        for field, parts in ((0, ((0, 4), (3, 1))), (3, ((1, 4), (2, 4)))):
            if (pos := subgraph(field)) is None:
                continue
            items, length = flat.vector(pos, 4)
            for item in range(length):
                entry = flat.table(flat.ref(items + 4 * item))
                for part, width in parts:
                    if (at := entry(part)) is not None:
                        flat.vector(at, width)
    custom: list[bytes] = []
    if codes is not None:
        start, count = flat.vector(codes, 4)
        for index in range(count):
            code = flat.table(flat.ref(start + 4 * index))
            name = code(1)
            if name is not None:
                custom.append(flat.string(name))
    if buffers is not None:
        start, count = flat.vector(buffers, 4)
        for index in range(count):
            buffer = flat.table(flat.ref(start + 4 * index))
            if (data_field := buffer(0)) is not None:
                flat.vector(data_field, 1)
            offset_at, length_at = buffer(1), buffer(2)
            if offset_at is not None and length_at is not None:
                end = flat._at("<Q", offset_at) + flat._at("<Q", length_at)
                if end > size:
                    raise Fault(f"buffer {index} ends at byte {end}, past the end (truncated?)")
    has_edgetpu = EDGETPU_OP in custom
    if edgetpu and not has_edgetpu:
        raise Fault(
            "no edgetpu-custom-op: a CPU model (compile it with edgetpu_compiler for an _edgetpu slot)"
        )
    if not edgetpu and has_edgetpu:
        raise Fault("holds the edgetpu-custom-op: an EdgeTPU model in a CPU slot")


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_hdf5(handle: BinaryIO, size: int) -> None:
    base = 0
    while True:  # the superblock is at 0, 512, 1024, 2048, ... (after a user block)
        handle.seek(base)
        if handle.read(8) == _HDF5_SIGNATURE:
            break
        base = 512 if base == 0 else base * 2
        if base + 8 > size:
            handle.seek(0)
            raise Fault(f"no HDF5 signature (starts {handle.read(8)!r})")
    version = _need(handle, 1, "the superblock")[0]
    if version in (0, 1):
        head = _need(handle, 15 if version == 0 else 19, "the superblock")
        offsets = head[4]
        skip = 0
    elif version in (2, 3):
        head = _need(handle, 3, "the superblock")
        offsets = head[0]
        skip = 1  # superblock extension address
    else:
        raise Fault(f"superblock version {version}")
    if offsets not in (2, 4, 8):
        raise Fault(f"size of offsets {offsets}")
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[offsets]
    base_address = struct.unpack(fmt, _need(handle, offsets, "the superblock"))[0]
    if version in (0, 1):
        _need(handle, offsets, "the superblock")  # free-space info address
    else:
        _need(handle, offsets * skip, "the superblock")
    eof = struct.unpack(fmt, _need(handle, offsets, "the superblock"))[0]
    if base_address + eof > size:
        raise Fault(
            f"the superblock says {base_address + eof} bytes, the file has {size} (truncated)"
        )


def _check_pickle(handle: BinaryIO, size: int) -> None:
    if size == 0:
        raise Fault("empty")
    memo: dict[int, object] = {}
    pushed: list[object] = []
    stopped_at = None
    try:
        for opcode, arg, _ in pickletools.genops(handle):
            name = opcode.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                _allowed(module, attr)
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                pair = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
                if not (isinstance(pair[0], str) and isinstance(pair[1], str)):
                    raise Fault("a global whose name the check cannot follow")
                _allowed(pair[0], pair[1])
                pushed.append(None)
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise Fault("an extension-registry global")
            elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                pushed.append(arg)
            elif name in ("SHORT_BINSTRING", "BINSTRING", "STRING"):
                pushed.append(arg if isinstance(arg, str) else None)
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = pushed[-1] if pushed else None  # type: ignore[arg-type]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                pushed.append(memo.get(int(arg)))  # type: ignore[arg-type]
            elif name == "STOP":
                stopped_at = handle.tell()
                break
            elif name not in ("PROTO", "FRAME", "MARK"):
                pushed.append(None)
            del pushed[:-4]
    except ValueError as exc:
        raise Fault(" ".join(str(exc).split())) from None
    if stopped_at is None:
        raise Fault("no STOP opcode (truncated)")
    if stopped_at != size:
        raise Fault(f"{size - stopped_at} bytes after the pickle's STOP")


def _allowed(module: str, attr: str) -> None:
    sklearn_class = (
        module.startswith("sklearn.")
        and attr[:1].isupper()
        and attr.isidentifier()
        and "test" not in module
    )
    sparse = module.startswith("scipy.sparse.") and attr.endswith(("_matrix", "_array"))
    if not ((module, attr) in PICKLE_GLOBALS or sklearn_class or sparse):
        raise Fault(f"refers to {module}.{attr} (only sklearn and numpy objects are expected)")


_T7_ELEMENT = {"Double": 8, "Float": 4, "Long": 8, "Int": 4, "Short": 2, "Char": 1, "Byte": 1}
_T7_ELEMENT["Half"] = 2
_T7_MAX_OBJECTS = 1_000_000


def _check_torch7(handle: BinaryIO, size: int) -> None:
    seen: set[int] = set()
    count = [0]

    def i32() -> int:
        return struct.unpack("<i", _need(handle, 4, "an integer"))[0]

    def i64() -> int:
        return struct.unpack("<q", _need(handle, 8, "a long"))[0]

    def string() -> bytes:
        length = i32()
        if length < 0 or handle.tell() + length > size:
            raise Fault(f"a string of {length} bytes at byte {handle.tell()} runs past the end")
        return handle.read(length)

    def skip(count_bytes: int) -> None:
        if count_bytes < 0 or handle.tell() + count_bytes > size:
            raise Fault(f"data of {count_bytes} bytes at byte {handle.tell()} runs past the end")
        handle.seek(count_bytes, io.SEEK_CUR)

    def obj(depth: int) -> bytes | None:
        count[0] += 1
        if depth > 64 or count[0] > _T7_MAX_OBJECTS:
            raise Fault("nested too deep or too many objects")
        kind = i32()
        if kind == 0:
            return None
        if kind == 1:
            _need(handle, 8, "a number")
            return None
        if kind == 2:
            return string()
        if kind == 5:
            i32()
            return None
        if kind in (3, 4):
            index = i32()
            if index in seen:
                return None
            seen.add(index)
            if kind == 3:
                entries = i32()
                if entries < 0:
                    raise Fault(f"a table of {entries} entries")
                for _ in range(2 * entries):
                    obj(depth + 1)
                return None
            version = string()
            cls = string() if version.startswith(b"V ") else version
            name = cls.decode("ascii", "replace")
            if not name.startswith(("nn.", "torch.", "cudnn.")):
                raise Fault(f"an object of class {name!r}")
            plain = name.split(".")[-1]
            if plain.endswith("Storage"):
                width = _T7_ELEMENT.get(plain[: -len("Storage")].replace("Cuda", "") or "Float")
                if width is None:
                    raise Fault(f"unknown storage {name}")
                skip(i64() * width)
            elif plain.endswith("Tensor"):
                dims = i32()
                if not 0 <= dims <= 16:
                    raise Fault(f"a tensor of {dims} dimensions")
                skip(16 * dims + 8)
                obj(depth + 1)
            else:
                obj(depth + 1)
            return None
        raise Fault(
            f"object type {kind} at byte {handle.tell() - 4} (a Lua function or not Torch7)"
        )

    if size < 8:
        raise Fault(f"{size} bytes")
    head = _need(handle, 4, "the header")
    if struct.unpack("<i", head)[0] != 4:
        raise Fault(f"does not start with a Torch object (starts {head!r})")
    handle.seek(0)
    obj(0)
    if handle.tell() != size:
        raise Fault(f"{size - handle.tell()} bytes after the object")


_XZ_MAGIC, _XZ_FOOTER = b"\xfd7zXZ\x00", b"YZ"
NN_ARCHIVE_MEMBERS = 64


def _check_nn_archive(handle: BinaryIO, size: int) -> None:
    if handle.read(6) != _XZ_MAGIC:
        raise Fault("not xz-compressed")
    handle.seek(size - 2)
    if handle.read(2) != _XZ_FOOTER:
        raise Fault("no xz stream footer (truncated)")
    handle.seek(0)
    config = blob = False
    with tarfile.open(fileobj=handle, mode="r|xz") as archive:
        for index, member in enumerate(archive):
            if index >= NN_ARCHIVE_MEMBERS:
                raise Fault(f"more than {NN_ARCHIVE_MEMBERS} members")
            name = member.name
            if name.startswith("/") or ".." in name.split("/"):
                raise Fault(f"a member named {name!r}")
            if not (member.isfile() or member.isdir()):
                raise Fault(f"{name!r} is not a regular file")
            base = name.rsplit("/", 1)[-1]
            if base == "config.json" and member.isfile():
                if member.size > 1 << 20:
                    raise Fault("config.json over 1 MB")
                extracted = archive.extractfile(member)
                try:
                    document = json.loads(extracted.read() if extracted else b"")
                except ValueError:
                    raise Fault("config.json is not JSON") from None
                if not isinstance(document, dict):
                    raise Fault("config.json is not a JSON object")
                config = True
            elif base.endswith((".blob", ".superblob")) and member.isfile() and member.size:
                blob = True
            if config and blob:  # not decompressed to the end: the footer check saw the end
                break
    if not config:
        raise Fault("no config.json")
    if not blob:
        raise Fault("no .blob or .superblob model")


_CHECKS: dict[str, Callable[[BinaryIO, int], None]] = {
    CAFFEMODEL: _check_caffemodel,
    PROTOTXT: _check_prototxt,
    TFLITE_EDGETPU: lambda h, s: _check_tflite(h, s, edgetpu=True),
    TFLITE_CPU: lambda h, s: _check_tflite(h, s, edgetpu=False),
    HDF5: _check_hdf5,
    PICKLE: _check_pickle,
    TORCH7: _check_torch7,
    HAARCASCADE: _check_haarcascade,
    NN_ARCHIVE: _check_nn_archive,
    LABELS: _check_labels,
    FACELIST: _check_facelist,
}


def tflite_interface(data: bytes) -> tuple[list[tuple[tuple[int, ...], int]], int]:
    """A TFLite model's first subgraph as an interpreter shows it: the inputs' (shape, TensorType)
    and the number of outputs (what pycoral's detect adapter looks at)."""
    flat = _Flat(data)
    model = flat.table(flat.ref(0))
    subgraphs = model(2)
    if subgraphs is None:
        raise Fault("no subgraphs")
    start, count = flat.vector(subgraphs, 4)
    if not count:
        raise Fault("no subgraphs")
    subgraph = flat.table(flat.ref(start))
    tensors: list[tuple[tuple[int, ...], int]] = []
    if (pos := subgraph(0)) is not None:
        items, length = flat.vector(pos, 4)
        for item in range(length):
            tensor = flat.table(flat.ref(items + 4 * item))
            shape: tuple[int, ...] = ()
            if (at := tensor(0)) is not None:
                first, dims = flat.vector(at, 4)
                shape = tuple(flat._at("<i", first + 4 * d) for d in range(dims))
            kind = flat._at("<B", at) if (at := tensor(1)) is not None else 0
            tensors.append((shape, kind))

    def indices(field: int) -> list[int]:
        if (pos := subgraph(field)) is None:
            return []
        first, length = flat.vector(pos, 4)
        return [flat._at("<i", first + 4 * i) for i in range(length)]

    inputs = [tensors[i] for i in indices(1) if 0 <= i < len(tensors)]
    return inputs, len(indices(2))
