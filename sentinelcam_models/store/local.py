"""The version store on this machine: ``{root}/{model}/{version}/`` with a ``MANIFEST.sha256``.

Nodes pull a version only after the deploy has checked it here, so the store must never show a
half-written version, a file the manifest does not name, or a path that leads out of the store.
Every write is built in a hidden directory and renamed into place under the store lock; every read
walks directories by descriptor and opens files with ``O_NOFOLLOW``, so a symlink (or one swapped
in mid-walk) is refused instead of followed. Failures are one-line ``BadInput`` (the input is
wrong; exit 2) or ``CheckFailed`` (a check or a write failed; exit 1) naming model, version and
file.

Standard library only: the store agent runs this module on the datasink with its own python3.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core import modelfiles, names
from ..core.manifest import MANIFEST, content_mtime, format_manifest, parse_manifest
from ..core.problems import BadInput, CheckFailed, one_line
from ..core.retention import Policy, parse_policy, policy_document
from . import progress
from .atomic import fsync_dir, store_lock, write_atomically

CORAL_DIR = "coral_packages"
UPLOAD_PREFIX = ".upload-"  # {root}/.upload-*: a version being copied or rsynced in
CORAL_NEW = ".coral_packages.new-"  # {root}/.coral_packages.new-T: a coral install being built
CORAL_OLD = ".coral_packages.old-"  # {root}/.coral_packages.old-T: the one it replaces
# An upload runs without the store lock (an rsync from a remote uploader can take minutes), so
# the cleanup sweeps an upload directory only once nothing in it has changed for this long.
UPLOAD_MAX_AGE = 24 * 3600
CHUNK = 1 << 20
_LEFTOVER = re.compile(r"\.(\d{4}-\d{2}-\d{2})\.(?:deleting|publish-.+)")
_ADOPT_TMP = f".{MANIFEST}.adopting"
_SETID = stat.S_ISUID | stat.S_ISGID
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a fifo swapped in for a file must not hang the open; fstat then refuses it.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

# Test hook: called with a file's relative path right before its path is opened, so a test can
# swap the file (or a directory above it) for a symlink between the listing and the open: the
# race O_NOFOLLOW closes.
_before_open: Callable[[str], None] | None = None


@dataclass(frozen=True)
class StoredVersion:
    model: str
    version: str
    size: int
    has_manifest: bool


@dataclass(frozen=True)
class PublishResult:
    path: Path
    manifest_digest: str  # sha256 of MANIFEST.sha256: the identity nodes compare against


@dataclass
class VerifyResult:
    """A re-hash of one version against its manifest; every finding is relative to the version."""

    model: str
    version: str
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.altered or self.problems)

    def lines(self) -> list[str]:
        where = f"{self.model}/{self.version}"
        out = [one_line(f"{where}: {problem}") for problem in self.problems]
        out += [f"{where}: missing {rel}" for rel in self.missing]
        out += [f"{where}: extra {rel} (not in {MANIFEST})" for rel in self.extra]
        out += [f"{where}: altered {rel} (sha256 differs from {MANIFEST})" for rel in self.altered]
        return out or [f"{where}: ok"]


@dataclass(frozen=True)
class AdoptResult:
    model: str
    version: str
    status: str  # adopted | would adopt | refused
    detail: str


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


class LocalStore:
    """The model store under ``root`` on this machine (the primary datasink)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # --- reading ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.root.is_dir()

    def require(self) -> None:
        """Refuse to work on a store that is not there: nothing creates a store by accident."""
        if not self.exists():
            raise BadInput(one_line(f"{self.root}: no model store here"))

    def versions(self, model: str) -> list[StoredVersion]:
        """Every date-named version directory of ``model`` (symlinks excluded), newest first."""
        _check_names(model)
        self.require()
        base = self.root / model
        if not _is_real_dir(base):
            return []
        found = []
        for name in sorted(os.listdir(base), reverse=True):
            if not names.is_version(name) or not _is_real_dir(base / name):
                continue
            tree = self._tree(base / name, refuse_setid=False)
            size = sum(st.st_size for st in tree.files.values())
            found.append(StoredVersion(model, name, size, MANIFEST in tree.files))
        return found

    def _tree(self, directory: Path, refuse_setid: bool) -> _Tree:
        fd = os.open(directory, _DIR_FLAGS)
        try:
            return _scan(fd, refuse_setid)
        finally:
            os.close(fd)

    def _open_version(self, model: str, version: str) -> int:
        """The version directory's descriptor; a symlinked model or version directory raises
        OSError (ELOOP), a missing one FileNotFoundError."""
        model_fd = os.open(self.root / model, _DIR_FLAGS)
        try:
            return os.open(version, _DIR_FLAGS, dir_fd=model_fd)
        finally:
            os.close(model_fd)

    def _read_manifest(self, dir_fd: int) -> tuple[dict[str, str] | None, list[str], str | None]:
        """(entries or None when unreadable, problems, sha256 of the manifest bytes)."""
        try:
            fd = _open_file(dir_fd, MANIFEST)
        except FileNotFoundError:
            return None, [f"has no {MANIFEST}"], None
        except _Unsafe as exc:
            return None, [str(exc)], None
        try:
            data = _read_all(fd)
        finally:
            os.close(fd)
        digest = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [f"{MANIFEST} is not UTF-8 text (byte {exc.start})"], digest
        entries, problems = parse_manifest(text)
        return entries, [one_line(p) for p in problems], digest

    def verify(self, model: str, version: str, deep: bool = False) -> VerifyResult:
        """Re-hash every file of a version against its manifest (slow: reads every byte); with
        ``deep``, also check each file's format (``core.modelfiles``)."""
        _check_names(model, version)
        self.require()
        result = VerifyResult(model, version)
        try:
            dir_fd = self._open_version(model, version)
        except FileNotFoundError:
            result.problems.append("not in the store")
            return result
        except OSError:
            result.problems.append("is not a directory (a symlink or a file)")
            return result
        try:
            with _failures(f"{model}/{version}"):
                entries, problems, _ = self._read_manifest(dir_fd)
                tree = _scan(dir_fd, refuse_setid=True)
                result.problems += problems + list(tree.problems.values())
                if entries is None:
                    return result
                present = set(tree.files) - {MANIFEST}
                result.missing = sorted(set(entries) - present - set(tree.problems))
                result.extra = sorted(present - set(entries))
                for rel in sorted(set(entries) & present):
                    try:
                        fd = _open_file(dir_fd, rel)
                    except (_Unsafe, FileNotFoundError) as exc:
                        result.problems.append(one_line(str(exc)))
                        continue
                    try:
                        if _sha256_fd(fd) != entries[rel]:
                            result.altered.append(rel)
                    finally:
                        os.close(fd)
                if deep:
                    checked = sorted(set(entries) & present)
                    result.problems += _format_faults(dir_fd, checked)
        finally:
            os.close(dir_fd)
        return result

    def check(self, wanted: list[str], required: Mapping[str, list[str]]) -> dict[str, dict]:
        """The deploy's pre-flight: is each ``model/version`` in the store, whole and sane?

        Structural only, no model file is hashed (it runs before every deploy): the directory
        exists, its manifest parses strictly, the regular files are exactly the manifest's, no
        symlink, special or setuid file, and the files the configs name are listed. Each item
        maps to ``{"digest": sha256 of the manifest or None, "problems": [one line each]}``;
        the digest is given whenever the manifest is readable, so only empty problems mean ok.
        """
        self.require()
        return {item: self._check_one(item, required) for item in wanted}

    def _check_one(self, item: str, required: Mapping[str, list[str]]) -> dict:
        model, _, version = item.partition("/")
        if not (names.is_model_name(model) and names.is_version(version)):
            return {
                "digest": None,
                "problems": [one_line(f"{item!r}: not a model/version (name/YYYY-MM-DD)")],
            }
        try:
            dir_fd = self._open_version(model, version)
        except FileNotFoundError:
            return {"digest": None, "problems": [f"{item}: not in the store {self.root}"]}
        except OSError:
            return {
                "digest": None,
                "problems": [f"{item}: is not a directory (a symlink or a file)"],
            }
        try:
            with _failures(item):
                entries, problems, digest = self._read_manifest(dir_fd)
                tree = _scan(dir_fd, refuse_setid=True)
        finally:
            os.close(dir_fd)
        lines = [f"{item}: {p}" for p in problems + list(tree.problems.values())]
        if entries is not None:
            present = set(tree.files) - {MANIFEST}
            missing = sorted(set(entries) - present - set(tree.problems))
            extra = sorted(present - set(entries))
            if missing:
                lines.append(f"{item}: missing {', '.join(missing)} (listed in {MANIFEST})")
            if extra:
                lines.append(f"{item}: extra {', '.join(extra)} (not in {MANIFEST})")
            lacking = [rel for rel in dict.fromkeys(required.get(model, [])) if rel not in entries]
            if lacking:
                lines.append(f"{item} lacks {', '.join(lacking)} (the configs name them)")
        return {"digest": digest, "problems": [one_line(line) for line in lines]}

    # --- publishing ---------------------------------------------------------------------------

    def stage_copy(self, src: Path) -> Path:
        """Copy a source tree into a new hidden upload directory of the store; return it.

        The source may belong to someone else, who may swap a file for a symlink (to
        /etc/shadow, say) while the copy runs: directories are walked by descriptor and every
        file is opened with O_NOFOLLOW and checked with fstat, so a swap is refused, never
        followed. Copies get mode ``(mode & 0o644) | 0o600``. The store's manifest is written
        at publish, so a top-level MANIFEST.sha256 in the source is not copied.
        """
        self.require()
        try:
            src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            raise BadInput(one_line(f"{src}: source is not a directory")) from None
        staging = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=self.root))
        try:
            with _failures(str(src)):
                tree = _scan(src_fd, refuse_setid=False)
                if tree.problems:
                    raise BadInput(one_line(f"{src}/{_summary(tree.problems)}; nothing published"))
                files = sorted(set(tree.files) - {MANIFEST})
                if not files:
                    raise BadInput(one_line(f"{src}: source directory holds no files"))
                for rel in tree.dirs:
                    os.mkdir(staging / rel, 0o700)
                for rel in files:
                    fd = _open_file(src_fd, rel)
                    try:
                        out = os.open(staging / rel, _NEW_FILE_FLAGS, 0o600)
                        try:
                            _copy_fd(fd, out)
                            os.fchmod(out, _private_mode(os.fstat(fd).st_mode))
                        finally:
                            os.close(out)
                    finally:
                        os.close(fd)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            os.close(src_fd)
        return staging

    def finish_publish(
        self, model: str, version: str, staged: Path, required: list[str]
    ) -> PublishResult:
        """Turn an upload directory into ``{model}/{version}``, or remove it.

        ``staged`` must be one of the store's ``.upload-*`` directories (filled by
        ``stage_copy`` or by an rsync from a remote uploader). Under the store lock its tree is
        checked again without following symlinks, sealed (modes, content mtimes, manifest,
        fsync) and renamed into place. On any failure it is removed and no version appears.
        """
        _check_names(model, version)
        staged = Path(staged)
        self._require_upload_dir(staged)
        try:
            with store_lock(self.root):
                return self._finish_locked(model, version, staged, required)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise

    def _require_upload_dir(self, staged: Path) -> None:
        """Refuse anything but a real ``{root}/.upload-*`` directory: finish_publish renames
        and, on failure, deletes it, which must never reach a path outside the store."""
        parent = os.path.normpath(os.path.abspath(staged.parent))
        if (
            parent != os.path.normpath(os.path.abspath(self.root))
            or not staged.name.startswith(UPLOAD_PREFIX)
            or staged.name == UPLOAD_PREFIX
            or not _is_real_dir(staged)
        ):
            raise BadInput(
                one_line(
                    f"{staged}: not an upload directory of the store ({self.root}/{UPLOAD_PREFIX}*)"
                )
            )

    def _version_exists_error(self, model: str, version: str) -> BadInput:
        return BadInput(
            f"{model}/{version} already exists in {self.root}; versions are never "
            "overwritten (publish a new date)"
        )

    def _finish_locked(
        self, model: str, version: str, staged: Path, required: list[str]
    ) -> PublishResult:
        where = f"{model}/{version}"
        base = self.root / model
        target = base / version
        if os.path.lexists(target):
            raise self._version_exists_error(model, version)
        with _failures(where):
            top = os.open(staged, _DIR_FLAGS)
            try:
                tree = _scan(top, refuse_setid=True)
                if tree.problems:
                    raise BadInput(one_line(f"{where}: {_summary(tree.problems)}"))
                if MANIFEST in tree.dirs:
                    raise BadInput(f"{where}: {MANIFEST} is a directory in the upload")
                if not set(tree.files) - {MANIFEST}:
                    raise BadInput(f"{where}: the upload holds no files")
                lacking = [
                    rel
                    for rel in dict.fromkeys(required)
                    if rel == MANIFEST or rel not in tree.files
                ]
                if lacking:
                    raise BadInput(
                        one_line(f"{where} lacks {', '.join(lacking)} (the configs name them)")
                    )
                faults = _format_faults(top, set(tree.files) - {MANIFEST})
                if faults:
                    more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
                    raise BadInput(one_line(f"{where}: {faults[0]}{more}; nothing published"))
                entries = _seal(top, tree, skip=frozenset({MANIFEST}))
                text = format_manifest(entries).encode("utf-8")
                if MANIFEST in tree.files:  # the uploader's own; the store writes its own
                    os.unlink(MANIFEST, dir_fd=top)
                _write_new(top, MANIFEST, text, 0o644)
                os.fchmod(top, 0o755)
                os.fsync(top)
                if not os.path.samestat(os.fstat(top), os.lstat(staged)):
                    raise BadInput(f"{where}: {staged} changed while being published")
            finally:
                os.close(top)
            if not os.path.lexists(base):
                os.mkdir(base, 0o755)
                os.chmod(base, 0o755)
            elif not _is_real_dir(base):
                raise BadInput(f"{base}: not a directory")
            os.rename(staged, target)
            fsync_dir(base)
            fsync_dir(self.root)
        return PublishResult(target, hashlib.sha256(text).hexdigest())

    def publish(self, model: str, version: str, src: Path, required: list[str]) -> PublishResult:
        """A new version from a local source tree: ``stage_copy`` then ``finish_publish``."""
        _check_names(model, version)
        self.require()
        if os.path.lexists(self.root / model / version):  # before copying gigabytes for nothing
            raise self._version_exists_error(model, version)
        staged = self.stage_copy(src)
        return self.finish_publish(model, version, staged, required)

    # --- retention ----------------------------------------------------------------------------

    def cleanup(self, policy: Policy, keep: int, dry_run: bool, log: Callable[[str], None]) -> int:
        """Apply the retention policy under the store lock; return the bytes freed (or that
        would be).

        Only models the policy names, and in them only date-named directories holding a
        MANIFEST.sha256, are ever removed: the store's root may sit beside data directories,
        and a version the store did not write is not the store's to delete. A version is
        renamed to ``.{version}.deleting`` first, so no reader sees it half deleted.
        """
        if not _is_count(keep):
            raise BadInput(one_line(f"cleanup: keep must be a whole number >= 0, not {keep!r}"))
        self.require()
        freed = 0
        with store_lock(self.root), _failures(str(self.root)):
            self._recover_coral(dry_run, log)
            self._sweep(policy, dry_run, log)
            for model in sorted(policy.models):
                base = self.root / model
                if not _is_real_dir(base):
                    continue
                versions = [
                    v
                    for v in os.listdir(base)
                    if names.is_version(v)
                    and _is_real_dir(base / v)
                    and _is_regular(base / v / MANIFEST)
                ]
                decision = policy.decide(model, versions, keep)
                for version, why in decision.keep.items():
                    log(f"keep   {model}/{version} ({why})")
                for version in decision.remove:
                    size = self._size(base / version)
                    freed += size
                    if dry_run:
                        log(f"would remove {model}/{version} ({size} bytes)")
                        continue
                    doomed = base / f".{version}.deleting"
                    os.rename(base / version, doomed)
                    fsync_dir(base)
                    shutil.rmtree(doomed)
                    log(f"remove {model}/{version} ({size} bytes)")
        log(f"{'would free' if dry_run else 'freed'} {freed} bytes")
        return freed

    def _size(self, directory: Path) -> int:
        return sum(st.st_size for st in self._tree(directory, refuse_setid=False).files.values())

    def _sweep(self, policy: Policy, dry_run: bool, log: Callable[[str], None]) -> None:
        """Remove what interrupted store operations left; only names the store itself creates."""
        now = time.time()
        coral_in_place = os.path.lexists(self.root / CORAL_DIR)
        doomed: list[Path] = []
        for name in sorted(os.listdir(self.root)):
            path = self.root / name
            if not _is_real_dir(path):
                continue
            stale_upload = (
                name.startswith(UPLOAD_PREFIX) and now - _newest_mtime(path) > UPLOAD_MAX_AGE
            )
            # Without coral_packages/ in place these may be the only copies (see _recover_coral).
            coral_leftover = name.startswith((CORAL_NEW, CORAL_OLD)) and coral_in_place
            if stale_upload or coral_leftover:
                doomed.append(path)
        for model in sorted(policy.models):
            base = self.root / model
            if _is_real_dir(base):
                doomed += [
                    base / name
                    for name in sorted(os.listdir(base))
                    if (match := _LEFTOVER.fullmatch(name)) is not None
                    and names.is_version(match.group(1))
                    and _is_real_dir(base / name)
                ]
        for path in doomed:
            rel = path.relative_to(self.root)
            if dry_run:
                log(f"would remove leftover {rel}")
            else:
                shutil.rmtree(path)
                log(f"remove leftover {rel}")

    # --- adopting a store from the original system --------------------------------------------

    def adopt(
        self, required: Mapping[str, list[str]], models: list[str], dry_run: bool
    ) -> list[AdoptResult]:
        """Give each manifest-less version of ``models`` (the original Ansible store had no
        manifests) its MANIFEST.sha256, once it is clean and holds the files its configs name.
        Versions that have a manifest are left alone.
        """
        for model in models:
            _check_names(model)
        self.require()
        results = []
        with store_lock(self.root, shared=dry_run):
            for model in sorted(set(models)):
                base = self.root / model
                if not _is_real_dir(base):
                    continue
                for version in sorted(os.listdir(base)):
                    path = base / version
                    if (
                        names.is_version(version)
                        and _is_real_dir(path)
                        and not os.path.lexists(path / MANIFEST)
                    ):
                        results.append(
                            self._adopt_one(model, version, list(required.get(model, [])), dry_run)
                        )
        return results

    def _adopt_one(
        self, model: str, version: str, required: list[str], dry_run: bool
    ) -> AdoptResult:
        def refused(reason: str) -> AdoptResult:
            return AdoptResult(model, version, "refused", one_line(reason))

        try:
            fd = os.open(self.root / model / version, _DIR_FLAGS)
        except OSError as exc:
            return refused(_describe(exc))
        try:
            tree = _scan(fd, refuse_setid=True)
            # A temp manifest left by an adoption that was cut short: ours, so not a problem.
            tree.files.pop(_ADOPT_TMP, None)
            tree.problems.pop(_ADOPT_TMP, None)
            if tree.problems:
                return refused("; ".join(tree.problems.values()))
            if not tree.files:
                return refused("holds no files")
            lacking = [rel for rel in dict.fromkeys(required) if rel not in tree.files]
            if lacking:
                return refused(f"lacks {', '.join(lacking)} (the configs name them)")
            faults = _format_faults(fd, list(tree.files))
            if faults:
                more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
                return refused(faults[0] + more)
            if dry_run:
                return AdoptResult(model, version, "would adopt", f"{len(tree.files)} files")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_ADOPT_TMP, dir_fd=fd)
            text = format_manifest(_seal(fd, tree)).encode("utf-8")
            _write_new(fd, _ADOPT_TMP, text, 0o644)
            os.rename(_ADOPT_TMP, MANIFEST, src_dir_fd=fd, dst_dir_fd=fd)
            os.fchmod(fd, 0o755)
            os.fsync(fd)
        except _Unsafe as exc:
            return refused(str(exc))
        except OSError as exc:
            return refused(_describe(exc))
        finally:
            os.close(fd)
        digest = hashlib.sha256(text).hexdigest()
        return AdoptResult(
            model, version, "adopted", f"{len(tree.files)} files, manifest sha256 {digest}"
        )

    # --- the Coral EdgeTPU runtime files ------------------------------------------------------

    def coral_files(self) -> dict[str, str | None]:
        """What ``coral_packages/`` holds: name -> sha256 (None for a non-regular entry)."""
        self.require()
        found: dict[str, str | None] = {}
        with store_lock(self.root, shared=True), _failures(CORAL_DIR):
            try:
                dir_fd = os.open(self.root / CORAL_DIR, _DIR_FLAGS)
            except FileNotFoundError:
                return found
            try:
                for name in sorted(os.listdir(dir_fd)):
                    if name == MANIFEST:
                        continue
                    try:
                        fd = _open_file(dir_fd, name)
                    except (_Unsafe, FileNotFoundError):
                        found[name] = None
                        continue
                    try:
                        found[name] = _sha256_fd(fd)
                    finally:
                        os.close(fd)
            finally:
                os.close(dir_fd)
        return found

    def install_coral(self, staged: Path | None, files: Mapping[str, str]) -> list[str]:
        """Make ``coral_packages/`` hold ``files`` (name -> sha256); all or nothing.

        Files the current manifest records that still match it stay too (an older runtime's
        packages: a registry rolled back to them deploys without a new download). A complete new
        directory is built beside it (files already stored with the right digest are
        hard-linked, the others copied from ``staged``), every digest is checked
        there, its manifest written, then it is swapped in with two renames. A crash leaves the
        old complete directory, or both complete under hidden names, which the next install or
        cleanup resolves (``_recover_coral``). Returns the names taken from ``staged``;
        ``staged`` itself is left to the caller.
        """
        if not files:
            raise BadInput("install_coral: no files named")
        for name, digest in files.items():
            if not names.is_plain_file_name(name) or name == MANIFEST:
                raise BadInput(one_line(f"coral file {name!r}: not a plain file name"))
            if not names.is_sha256(digest):
                raise BadInput(one_line(f"coral file {name}: {digest!r} is not a sha256"))
        self.require()
        current = self.root / CORAL_DIR
        with store_lock(self.root), _failures(CORAL_DIR):
            self._recover_coral(False, lambda _line: None)
            for name in sorted(os.listdir(self.root)):
                # Leftovers of an interrupted install; kept while they may be the only copies.
                if (
                    name.startswith((CORAL_NEW, CORAL_OLD))
                    and _is_real_dir(self.root / name)
                    and os.path.lexists(current)
                ):
                    shutil.rmtree(self.root / name)
            if os.path.lexists(current) and not _is_real_dir(current):
                raise BadInput(f"{current}: not a directory; the store is unchanged")
            carried = {
                name: digest
                for name, digest in self._coral_manifest(current).items()
                if name not in files
            }
            new = Path(tempfile.mkdtemp(prefix=CORAL_NEW, dir=self.root))
            try:
                stored, unchanged = self._build_coral(new, current, staged, files, carried)
                if unchanged:
                    shutil.rmtree(new)
                    return []
                self._swap_coral(new, current, new.name[len(CORAL_NEW) :])
            except BaseException:
                shutil.rmtree(new, ignore_errors=True)
                raise
        return stored

    def _coral_manifest(self, current: Path) -> dict[str, str]:
        """What the current ``coral_packages/MANIFEST.sha256`` records (empty if none or unreadable)."""
        try:
            text = (current / MANIFEST).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return {}
        entries, _ = parse_manifest(text)
        return {name: digest for name, digest in entries.items() if names.is_plain_file_name(name)}

    def _build_coral(
        self,
        new: Path,
        current: Path,
        staged: Path | None,
        files: Mapping[str, str],
        carried: Mapping[str, str] | None = None,
    ) -> tuple[list[str], bool]:
        new_fd = os.open(new, _DIR_FLAGS)
        opened = [new_fd]
        try:
            cur_fd = os.open(current, _DIR_FLAGS) if _is_real_dir(current) else None
            if cur_fd is not None:
                opened.append(cur_fd)
            staged_fd = None
            if staged is not None:
                try:
                    staged_fd = os.open(staged, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                except OSError:
                    raise BadInput(
                        one_line(f"{staged}: not a directory; the store is unchanged")
                    ) from None
                opened.append(staged_fd)
            stored = []
            kept = {
                name: digest
                for name, digest in (carried or {}).items()
                if cur_fd is not None and _link_if_same(cur_fd, new_fd, name, digest)
            }
            files = {**kept, **files}
            for name, digest in sorted(files.items()):
                if name in kept:
                    continue
                if cur_fd is not None and _link_if_same(cur_fd, new_fd, name, digest):
                    continue
                if staged_fd is None:
                    raise BadInput(
                        f"{name}: not in {current} and nothing staged; the store is unchanged"
                    )
                try:
                    src = _open_file(staged_fd, name)
                except FileNotFoundError:
                    raise BadInput(
                        f"{name}: not in {staged} nor in {current}; the store is unchanged"
                    ) from None
                except _Unsafe as exc:
                    raise BadInput(f"{staged}/{exc}; the store is unchanged") from None
                try:
                    got = _copy_into(src, new_fd, name)
                finally:
                    os.close(src)
                if got != digest:
                    raise CheckFailed(
                        f"{name}: sha256 {got} does not match the registry's "
                        f"{digest}; the store is unchanged"
                    )
                stored.append(name)
            # Every file of the new directory, linked or copied, checked where it will live.
            for name, digest in sorted(files.items()):
                fd = _open_file(new_fd, name)
                try:
                    got = _sha256_fd(fd)
                    os.fchmod(fd, 0o644)
                    os.utime(fd, (content_mtime(digest),) * 2)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if got != digest:
                    raise CheckFailed(
                        f"{name}: sha256 {got} does not match the registry's "
                        f"{digest}; the store is unchanged"
                    )
            text = format_manifest(dict(files)).encode("utf-8")
            _write_new(new_fd, MANIFEST, text, 0o644)
            os.fchmod(new_fd, 0o755)
            os.fsync(new_fd)
            unchanged = (
                not stored and cur_fd is not None and _holds_exactly(cur_fd, set(files), text)
            )
            return stored, unchanged
        finally:
            for fd in opened:
                os.close(fd)

    def _swap_coral(self, new: Path, current: Path, token: str) -> None:
        if not os.path.lexists(current):
            os.rename(new, current)
            fsync_dir(self.root)
            return
        old = self.root / f"{CORAL_OLD}{token}"
        os.rename(current, old)
        try:
            os.rename(new, current)
        except BaseException:
            os.rename(old, current)  # the old directory back in place, whole
            raise
        fsync_dir(self.root)
        shutil.rmtree(old)

    def _recover_coral(self, dry_run: bool, log: Callable[[str], None]) -> None:
        """Finish an install cut short between its two renames (no ``coral_packages/``).

        The new directory is complete before the first rename, so when its ``old`` partner
        exists the swap had begun: the new one goes in. Only an old one left: it goes back.
        """
        current = self.root / CORAL_DIR
        if os.path.lexists(current):
            return
        hidden = [n for n in os.listdir(self.root) if _is_real_dir(self.root / n)]
        new = {n[len(CORAL_NEW) :] for n in hidden if n.startswith(CORAL_NEW)}
        old = {n[len(CORAL_OLD) :] for n in hidden if n.startswith(CORAL_OLD)}
        if len(new & old) == 1:
            source = CORAL_NEW + (new & old).pop()
        elif not new & old and len(old) == 1:
            source = CORAL_OLD + old.pop()
        else:
            return
        if dry_run:
            log(f"would restore {CORAL_DIR} from {source} (an interrupted install)")
            return
        os.rename(self.root / source, current)
        fsync_dir(self.root)
        log(f"restore {CORAL_DIR} from {source} (an interrupted install)")

    # --- the retention policy file ------------------------------------------------------------

    def write_policy(self, path: Path, policy: object, data_path: Path | None = None) -> Path:
        """Write the retention policy document atomically, after checking it strictly.

        Written on the primary datasink only (the store must be here). With ``data_path``, the
        file must lie inside that existing directory and missing directories between them are
        created; without it, the file's directory must exist.
        """
        self.require()
        parsed, problems = parse_policy(policy)
        if parsed is None:
            raise BadInput(
                one_line(f"{path}: refusing to write an invalid policy: " + "; ".join(problems))
            )
        path = Path(os.path.normpath(os.path.abspath(path)))
        if data_path is not None:
            base = Path(os.path.normpath(os.path.abspath(data_path)))
            if not base.is_dir():
                raise BadInput(one_line(f"{data_path}: no such directory (the data path)"))
            if path == base or not path.is_relative_to(base):
                raise BadInput(one_line(f"{path}: not inside the data path {base}"))
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise BadInput(one_line(f"{path.parent}: no such directory"))
        text = json.dumps(policy_document(parsed), indent=2, sort_keys=True) + "\n"
        with _failures(str(path)):
            write_atomically(path, text, mode=0o644)
        return path


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
