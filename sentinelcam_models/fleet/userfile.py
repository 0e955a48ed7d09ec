"""One line for an exception raised by an operator's Python file (an inventory, group data): the
file and line where it happened, and the exception, never a traceback or pyinfra's wrapper."""

from __future__ import annotations

import traceback
from pathlib import Path

from ..core.problems import one_line


def _unwrap(exc: BaseException) -> BaseException:
    """pyinfra wraps user-code errors (``UnexpectedExternalError.exception``, ``WrappedError.e``)."""
    for _ in range(5):
        inner = getattr(exc, "exception", None) or getattr(exc, "e", None)
        if not isinstance(inner, BaseException) or inner is exc:
            break
        exc = inner
    return exc


def _where(exc: BaseException, near: Path) -> str | None:
    """``file:line`` of the innermost frame in the operator's files (beside ``near``)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}" if exc.lineno else exc.filename
    tb = getattr(exc, "_traceback", None) or exc.__traceback__
    frames = traceback.extract_tb(tb) if tb is not None else []
    folder = near.resolve().parent
    ours = []
    for frame in frames:
        try:
            Path(frame.filename).resolve().relative_to(folder)
        except (ValueError, OSError):
            continue
        ours.append(frame)
    chosen = ours or frames
    return f"{chosen[-1].filename}:{chosen[-1].lineno}" if chosen else None


def describe(exc: BaseException, path: Path) -> str:
    """``FILE:LINE: ExceptionType: message`` for an error raised while loading ``path``."""
    cause = _unwrap(exc)
    where = _where(cause, path) or str(path)
    message = ""
    try:
        message = str(cause)
    except Exception:  # an exception whose __str__ fails (pyinfra's ClickException subclasses)
        message = ""
    if isinstance(cause, SyntaxError):
        message = cause.msg or message
    detail = f"{type(cause).__name__}: {message}" if message else type(cause).__name__
    same = where.rsplit(":", 1)[0] == str(path)
    return one_line(f"{where}: {detail}" + ("" if same else f" (loading the inventory {path})"))
