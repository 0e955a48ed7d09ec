"""Text formats: Caffe net definitions, labels, face lists, OpenCV Haar cascades."""

from __future__ import annotations

import re
from typing import BinaryIO
from xml.parsers import expat

from .fault import Fault

TEXT_MAX = 16 << 20  # labels, face lists, prototxt, cascades: far larger is not one of them
# The columns SentinelCam's FaceList reads (facedata.py, taskfactory.FaceSweep).
FACELIST_COLUMNS = (
    "date", "event", "timestamp", "objid", "status", "name",
    "x1", "y1", "x2", "y2", "rx", "ry", "lx", "ly", "dx", "dy", "angle", "focus",
)  # fmt: skip


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


def check_prototxt(handle: BinaryIO, size: int) -> None:
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


def check_labels(handle: BinaryIO, size: int) -> None:
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


def check_facelist(handle: BinaryIO, size: int) -> None:
    header = _text(handle, size).splitlines()[0]
    columns = [c.strip().strip('"') for c in header.split(",")]
    missing = [c for c in FACELIST_COLUMNS if c not in columns]
    if missing:
        raise Fault(f"the header lacks {', '.join(missing)}")


def check_haarcascade(handle: BinaryIO, size: int) -> None:
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
