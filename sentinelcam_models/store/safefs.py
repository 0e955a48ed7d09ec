"""Reading and writing store trees safely, by descriptor: directories walked with ``O_NOFOLLOW``,
files opened without following links and checked with ``fstat``, new files created exclusively,
copies hashed as they are written. Standard library only (the store agent runs it)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core import names
from ..core.manifest import MANIFEST, content_mtime
from ..core.problems import BadInput, CheckFailed, one_line
from . import progress

CHUNK = 1 << 20

_SETID = stat.S_ISUID | stat.S_ISGID


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


# O_NONBLOCK: a fifo swapped in for a file must not hang the open; fstat then refuses it.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


# Test hook: called with a file's relative path right before its path is opened, so a test can
# swap the file (or a directory above it) for a symlink between the listing and the open: the
# race O_NOFOLLOW closes.
_before_open: Callable[[str], None] | None = None


class _Unsafe(Exception):
    """A path that is a symlink or a special file, or became one while being read."""

    def __init__(self, rel: str, reason: str):
        super().__init__(one_line(f"{rel}: {reason}"))


@dataclass
class _Tree:
    """Everything below a directory, read without following a single symlink."""

    files: dict[str, os.stat_result] = field(default_factory=dict)  # regular files
    dirs: list[str] = field(default_factory=list)  # parents before children
    problems: dict[str, str] = field(default_factory=dict)  # path -> one line


def _scan(top_fd: int, refuse_setid: bool) -> _Tree:
    tree = _Tree()

    def visit(fd: int, prefix: str) -> None:
        for name in sorted(os.listdir(fd)):
            rel = prefix + name
            shown = one_line(rel)
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                tree.problems[rel] = f"{shown}: vanished while being read"
                continue
            if not names.is_plain_file_name(name):
                tree.problems[rel] = (
                    f"{shown}: not a plain file name (letters, digits, . _ + -, "
                    "not starting with . or -)"
                )
            elif stat.S_ISLNK(st.st_mode):
                tree.problems[rel] = f"{shown}: is a symlink (store the file itself)"
            elif stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    tree.problems[rel] = f"{shown}: changed while being read"
                    continue
                try:
                    if not os.path.samestat(st, os.fstat(sub)):
                        tree.problems[rel] = f"{shown}: changed while being read"
                        continue
                    tree.dirs.append(rel)
                    visit(sub, rel + "/")
                finally:
                    os.close(sub)
            elif not stat.S_ISREG(st.st_mode):
                tree.problems[rel] = f"{shown}: is not a regular file (device, fifo or socket)"
            elif refuse_setid and st.st_mode & _SETID:
                tree.problems[rel] = f"{shown}: is setuid/setgid"
            else:
                tree.files[rel] = st

    visit(top_fd, "")
    return tree


def _summary(problems: Mapping[str, str]) -> str:
    lines = list(problems.values())
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return lines[0] + more


def _open_file(top_fd: int, rel: str) -> int:
    """Open a regular file below ``top_fd`` without following a symlink at any component.

    FileNotFoundError passes through; a symlink, a swapped directory or a special file raise
    ``_Unsafe``. The caller closes the descriptor.
    """
    parts = rel.split("/")
    opened: list[int] = []
    fd = top_fd
    if _before_open is not None:
        _before_open(rel)
    try:
        try:
            for part in parts[:-1]:
                fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                opened.append(fd)
            leaf = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO, errno.EMLINK):
                raise _Unsafe(
                    rel,
                    "is a symlink or special file (or was swapped for one "
                    "while being read); refused",
                ) from None
            raise
    finally:
        for dir_fd in opened:
            os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(leaf).st_mode):
        os.close(leaf)
        raise _Unsafe(rel, "is not a regular file; refused")
    return leaf


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def _sha256_fd(fd: int) -> str:
    digest = hashlib.sha256()
    while chunk := os.read(fd, CHUNK):
        digest.update(chunk)
        progress.advance(len(chunk), progress.HASH)
    return digest.hexdigest()


def _copy_fd(src: int, dest: int) -> str:
    """Copy ``src`` to ``dest`` and return the sha256 of what was written."""
    digest = hashlib.sha256()
    while chunk := os.read(src, CHUNK):
        digest.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(dest, view) :]
        progress.advance(len(chunk))
    return digest.hexdigest()


def _format_faults(top_fd: int, files: Iterable[str]) -> list[str]:
    """One line per file that does not hold its format (``core.modelfiles``), in name order."""
    # Imported here: the store agent's other commands (a deploy's pre-flight) start without the
    # format parsers, which it would otherwise compile from source on every call.
    from ..core import modelfiles  # noqa: PLC0415

    faults = []
    for rel in sorted(files):
        if modelfiles.file_format(rel) is None:
            continue
        fd = _open_file(top_fd, rel)
        with open(fd, "rb", buffering=1 << 16) as handle:
            fault = modelfiles.check_file(rel, handle, os.fstat(fd).st_size)
        if fault is not None:
            faults.append(fault)
    return faults


def _write_new(dir_fd: int, name: str, data: bytes, mode: int) -> None:
    """A new file with ``data``; its mtime derives from its content, like every store file's (two
    manifests of equal size written in the same second would otherwise look alike to rsync)."""
    fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.utime(fd, (content_mtime(hashlib.sha256(data).hexdigest()),) * 2)
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_mode(mode: int) -> int:
    """Readable by the owner, at most readable by others: 0640 stays 0640, never exec or setuid."""
    return (mode & 0o644) | 0o600


def _seal(top_fd: int, tree: _Tree, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Hash every file, normalise its mode, set its content mtime and fsync it; dirs 0755.

    A file unchanged between two versions gets the same mode and mtime in both, so a node's
    rsync hard-links or skips it. Returns the manifest entries.
    """
    entries: dict[str, str] = {}
    for rel in sorted(set(tree.files) - skip):
        fd = _open_file(top_fd, rel)
        try:
            st = os.fstat(fd)
            if st.st_mode & _SETID:
                raise _Unsafe(rel, "is setuid/setgid; refused")
            digest = _sha256_fd(fd)
            os.fchmod(fd, _private_mode(st.st_mode))
            os.utime(fd, (content_mtime(digest),) * 2)
            os.fsync(fd)
        finally:
            os.close(fd)
        entries[rel] = digest
    for rel in reversed(tree.dirs):
        fd = top_fd
        opened = []
        try:
            for part in rel.split("/"):
                fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                opened.append(fd)
            os.fchmod(fd, 0o755)
            os.fsync(fd)
        finally:
            for dir_fd in opened:
                os.close(dir_fd)
    return entries


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_names(model: object, version: object = None) -> None:
    if not names.is_model_name(model):
        raise BadInput(one_line(f"{model!r}: model names must match [a-z0-9_]+"))
    if version is not None and not names.is_version(version):
        raise BadInput(one_line(f"model {model}: {names.describe_version_error(version)}"))


def _describe(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


@contextlib.contextmanager
def _failures(where: str) -> Iterator[None]:
    """File-system failures as one line naming ``where`` (usually ``model/version``)."""
    try:
        yield
    except _Unsafe as exc:
        raise BadInput(one_line(f"{where}: {exc}")) from None
    except OSError as exc:
        raise CheckFailed(one_line(f"{where}: {_describe(exc)}")) from None


def _copy_into(src: int, dir_fd: int, name: str) -> str:
    out = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        return _copy_fd(src, out)
    finally:
        os.close(out)


def _link_if_same(cur_fd: int, new_fd: int, name: str, digest: str) -> bool:
    """Put the current copy of ``name`` in the new directory if it has ``digest``."""
    try:
        fd = _open_file(cur_fd, name)
    except (_Unsafe, FileNotFoundError):
        return False
    try:
        if _sha256_fd(fd) != digest:
            return False
        try:
            os.link(name, name, src_dir_fd=cur_fd, dst_dir_fd=new_fd, follow_symlinks=False)
        except OSError:  # another file system, or hard links not permitted: copy instead
            os.lseek(fd, 0, os.SEEK_SET)
            _copy_into(fd, new_fd, name)
        return True
    finally:
        os.close(fd)


def _holds_exactly(dir_fd: int, files: set[str], manifest: bytes) -> bool:
    """True when a coral directory already holds exactly these files and this manifest."""
    if set(os.listdir(dir_fd)) != files | {MANIFEST}:
        return False
    try:
        fd = _open_file(dir_fd, MANIFEST)
    except (_Unsafe, FileNotFoundError):
        return False
    try:
        return _read_all(fd) == manifest
    finally:
        os.close(fd)


def _newest_mtime(directory: Path) -> float:
    """The latest mtime of anything in a tree (symlinks not followed)."""
    newest = os.lstat(directory).st_mtime
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
    return newest
