"""Writes a reader never sees half done, and the locks that serialise writers.

A crash (power cut, killed process) must leave either the old file or the new one: the new text is
written to a temp file in the same directory, flushed to disk, then renamed over the target.
Standard library only: this module runs on the datasink inside the store agent.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..core.problems import BadInput

LOCK_FILE = ".lock"  # {store}/.lock: publish, cleanup, adopt and coral installs take it


def write_atomically(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` in one rename; the bytes land exactly as given.

    A ``str`` is encoded UTF-8 without newline translation (a CRLF file stays CRLF). An existing
    file keeps its mode (and, where permitted, its owner); a new one gets ``mode``, or
    ``0o666 & ~umask`` like any file the caller would create. The temp file is removed on failure.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            try:
                old = os.stat(path)
            except FileNotFoundError:
                os.fchmod(fd, _default_mode() if mode is None else mode)
            else:
                # chown first: it clears setuid/setgid bits, which the chmod then restores.
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, old.st_uid, old.st_gid)
                os.fchmod(fd, old.st_mode & 0o7777)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_dir(path: Path) -> None:
    """Make renames and new entries in ``path`` durable (a rename lives in the directory)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _flock(lock_path: Path, shared: bool) -> Iterator[None]:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(lock_path, flags, 0o644)
    except PermissionError:
        if not shared:
            raise
        # A reader without write access to the store still takes a shared lock on the file.
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock serialising edits of ``path``, held on a sibling ``.<name>.lock``.

    The lock lives beside the file, not on it: the file itself is replaced by every atomic write,
    and a lock on a replaced inode protects nothing.
    """
    with _flock(path.parent / f".{path.name}.lock", shared=False):
        yield


@contextlib.contextmanager
def store_lock(store: Path, shared: bool = False) -> Iterator[None]:
    """Serialise the store's writers (exclusive); readers that need a stable view share it.

    Never creates the store: nothing ever creates a store on the wrong machine, so a mistyped
    path or the wrong host fails here instead of growing an empty store.
    """
    if not store.is_dir():
        raise BadInput(f"{store}: no model store here")
    with _flock(store / LOCK_FILE, shared):
        yield
