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

This module names the formats and dispatches; each format family's check is a module of its own:
``protobuf`` (caffemodel), ``text`` (prototxt, labels, face list, Haar cascade), ``tflite``,
``hdf5``, ``pickles``, ``torch7``, ``nnarchive``; ``fault`` holds what they raise. The store
agent's bundle (store/bundle.py) carries every one of them.
"""

from __future__ import annotations

import io
import struct
import tarfile
from collections.abc import Callable
from typing import BinaryIO

from .fault import Fault
from .hdf5 import check_hdf5
from .nnarchive import NN_ARCHIVE_MEMBERS, check_nn_archive
from .pickles import PICKLE_GLOBALS, check_pickle
from .protobuf import check_caffemodel
from .text import (
    FACELIST_COLUMNS,
    TEXT_MAX,
    check_facelist,
    check_haarcascade,
    check_labels,
    check_prototxt,
)
from .tflite import EDGETPU_OP, FLATBUFFER_MAX, check_tflite, tflite_interface
from .torch7 import check_torch7

__all__ = [
    "CAFFEMODEL",
    "EDGETPU_OP",
    "FACELIST",
    "FACELIST_COLUMNS",
    "FLATBUFFER_MAX",
    "HAARCASCADE",
    "HDF5",
    "LABELS",
    "NN_ARCHIVE",
    "NN_ARCHIVE_MEMBERS",
    "PICKLE",
    "PICKLE_GLOBALS",
    "PROTOTXT",
    "TEXT_MAX",
    "TFLITE_CPU",
    "TFLITE_EDGETPU",
    "TORCH7",
    "Fault",
    "check_bytes",
    "check_file",
    "file_format",
    "tflite_interface",
]

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


_CHECKS: dict[str, Callable[[BinaryIO, int], None]] = {
    CAFFEMODEL: check_caffemodel,
    PROTOTXT: check_prototxt,
    TFLITE_EDGETPU: lambda h, s: check_tflite(h, s, edgetpu=True),
    TFLITE_CPU: lambda h, s: check_tflite(h, s, edgetpu=False),
    HDF5: check_hdf5,
    PICKLE: check_pickle,
    TORCH7: check_torch7,
    HAARCASCADE: check_haarcascade,
    NN_ARCHIVE: check_nn_archive,
    LABELS: check_labels,
    FACELIST: check_facelist,
}
