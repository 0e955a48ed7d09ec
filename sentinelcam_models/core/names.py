"""The shapes of names that reach paths and shells: models, versions, file names, hosts, users.

Every pattern matches the whole string (``fullmatch``): ``"face\\n"`` is not a model name. This
module is standard library only: it also runs on the datasink inside the store agent.
"""

from __future__ import annotations

import datetime as _dt
import re

MODEL_NAME = re.compile(r"[a-z0-9_]+")
VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
# A file or directory name inside a version: letters, digits, . _ + -, not starting with - or .
PLAIN_FILE_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*")
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
HOST_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252})")
# One way to match each path (a run of name characters, then a slash or the end): a nested
# "(?:[...]+/?)*" backtracks exponentially on a long path with one bad character at its end.
SAFE_PATH = re.compile(r"/(?:[A-Za-z0-9._+-]+/)*[A-Za-z0-9._+-]*")
SHA256 = re.compile(r"[0-9a-f]{64}")


def is_model_name(value: object) -> bool:
    return isinstance(value, str) and MODEL_NAME.fullmatch(value) is not None


def is_version(value: object) -> bool:
    """True for a real calendar date written YYYY-MM-DD (2025-02-30 and 2025-2-3 are not)."""
    if not isinstance(value, str) or VERSION.fullmatch(value) is None:
        return False
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_plain_file_name(value: object) -> bool:
    return isinstance(value, str) and PLAIN_FILE_NAME.fullmatch(value) is not None


def is_relative_file(value: object) -> bool:
    """A relative path of plain names (``a/b.txt``): no ``/`` at either end, no ``.`` or ``..``."""
    return (
        isinstance(value, str)
        and bool(value)
        and all(is_plain_file_name(part) for part in value.split("/"))
    )


def is_host_name(value: object) -> bool:
    return isinstance(value, str) and HOST_NAME.fullmatch(value) is not None


def is_user_name(value: object) -> bool:
    return isinstance(value, str) and USER_NAME.fullmatch(value) is not None


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and SHA256.fullmatch(value) is not None


def is_safe_path(value: object) -> bool:
    """An absolute path without spaces, shell metacharacters, ``.`` or ``..`` components."""
    if not isinstance(value, str) or SAFE_PATH.fullmatch(value) is None:
        return False
    return all(part not in (".", "..") for part in value.split("/"))


def normal_path(value: str) -> str:
    """``/a/b/`` -> ``/a/b`` (validated paths only)."""
    return "/" + "/".join(part for part in value.split("/") if part)


def describe_version_error(value: object) -> str:
    if not isinstance(value, str):
        return f'{value!r} is not a version: write a quoted date "YYYY-MM-DD"'
    return f"{value!r} is not a valid version (a real date written YYYY-MM-DD)"
