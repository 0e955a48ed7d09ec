"""Writes a reader never sees half done, and the locks that serialise writers.

A crash (power cut, killed process) must leave either the old file or the new one: the new text is
written to a temp file in the same directory, flushed to disk, then renamed over the target.
Standard library only: this module runs on the datasink inside the store agent.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..core.problems import BadInput, CheckFailed, one_line

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


class LockWait:
    """How long a writer waits for a held lock (None: as long as it takes) and where it says it
    is waiting (stderr by default; the CLI sets both from --lock-timeout)."""

    timeout: float | None = None
    poll = 0.2  # seconds between tries while the lock is held

    @staticmethod
    def report(message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def _holder(fd: int) -> str:
    """Who holds the lock, from what the holder wrote into the lock file: "PID 123 (host) since
    2026-01-01T10:00:00Z", or "another process" (a shared holder writes nothing)."""
    try:
        record = os.pread(fd, 200, 0).decode("ascii", "replace")
    except OSError:
        record = ""
    return describe_holder(record) or "another process"


def describe_holder(record: str) -> str | None:
    """``PID 123 (host) since TIME`` from a lock file's ``PID TIME HOST`` line; None if empty."""
    words = record[:200].split()
    if len(words) >= 3 and words[0].isdigit():
        return one_line(f"PID {words[0]} ({words[2][:64]}) since {words[1][:32]}")
    return None


def _take(fd: int, lock_path: Path, shared: bool) -> None:
    """flock, saying once that it waits (and for whom), giving up after LockWait.timeout."""
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    holder = _holder(fd)
    LockWait.report(f"waiting for the lock {lock_path} held by {holder}")
    start = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = time.monotonic() - start
            if LockWait.timeout is not None and waited >= LockWait.timeout:
                raise CheckFailed(
                    f"{lock_path}: still held by {_holder(fd)} after {waited:.0f} s "
                    "(--lock-timeout); nothing changed"
                ) from None
            time.sleep(LockWait.poll)


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
    held = False
    try:
        _take(fd, lock_path, shared)
        held = not shared
        if not shared:  # for whoever waits: who holds it, since when
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                os.pwrite(fd, f"{os.getpid()} {since} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        if held:  # a free lock names nobody (a killed holder's record stays: harmless)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
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
