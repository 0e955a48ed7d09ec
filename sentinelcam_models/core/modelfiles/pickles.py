"""The face model pickle: walked opcode by opcode with pickletools, never loaded."""

from __future__ import annotations

import pickletools
from typing import BinaryIO

from .fault import Fault

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


def check_pickle(handle: BinaryIO, size: int) -> None:
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
