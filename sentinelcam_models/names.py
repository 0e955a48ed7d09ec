"""The shapes of names that reach paths and shells: models, versions, file names, hosts."""

from __future__ import annotations

import datetime as _dt
import re

MODEL_NAME = re.compile(r"^[a-z0-9_]+$")
VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PLAIN_FILE_NAME = re.compile(r"^[A-Za-z0-9._+-]+$")
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")

ACCELERATORS = ("coral", "none")
DEPRECATED_ACCELERATORS = {"ncs2": "NCS2 is deprecated (no Debian bookworm / Python 3.11 drivers); use coral or none"}
FACE_DETECTORS = ("ssd_mobilenet", "blazeface")


def is_model_name(value: object) -> bool:
    return isinstance(value, str) and bool(MODEL_NAME.match(value))


def is_version(value: object) -> bool:
    """True for a real calendar date written YYYY-MM-DD (2025-02-30 and 2025-2-3 are not)."""
    if not isinstance(value, str) or not VERSION.match(value):
        return False
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_plain_file_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and bool(PLAIN_FILE_NAME.match(value))
        and value not in (".", "..")
    )


def is_safe_path(value: object) -> bool:
    """An absolute path without spaces, shell metacharacters or `..` components."""
    return (
        isinstance(value, str)
        and bool(SAFE_PATH.match(value))
        and ".." not in value.split("/")
    )


def describe_version_error(value: object) -> str:
    if not isinstance(value, str):
        return f"{value!r} is not a version: write a quoted date \"YYYY-MM-DD\""
    return f"{value!r} is not a valid version (a real date written YYYY-MM-DD)"
