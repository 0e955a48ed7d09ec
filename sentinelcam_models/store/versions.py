"""The store's layout and its reads: the names of its hidden working directories, the results its
operations return, and the base of ``LocalStore``: listing, opening and verifying versions and the
pre-flight's structural check. Standard library only (the store agent runs it)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core import names
from ..core.manifest import MANIFEST, parse_manifest
from ..core.problems import BadInput, one_line
from .safefs import (
    _DIR_FLAGS,
    _check_names,
    _failures,
    _format_faults,
    _is_real_dir,
    _open_file,
    _read_all,
    _scan,
    _sha256_fd,
    _Tree,
    _Unsafe,
)

CORAL_DIR = "coral_packages"


UPLOAD_PREFIX = ".upload-"  # {root}/.upload-*: a version being copied or rsynced in


CORAL_NEW = ".coral_packages.new-"  # {root}/.coral_packages.new-T: a coral install being built


CORAL_OLD = ".coral_packages.old-"  # {root}/.coral_packages.old-T: the one it replaces


# An upload runs without the store lock (an rsync from a remote uploader can take minutes), so
# the cleanup sweeps an upload directory only once nothing in it has changed for this long.
UPLOAD_MAX_AGE = 24 * 3600


_LEFTOVER = re.compile(r"\.(\d{4}-\d{2}-\d{2})\.(?:deleting|publish-.+)")


_ADOPT_TMP = f".{MANIFEST}.adopting"


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


class StoreBase:
    """The model store under ``root`` on this machine (the primary datasink)."""

    def __init__(self, root: Path):
        self.root = Path(root)

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
                    result.problems += _format_faults(dir_fd, sorted(set(entries) & present))
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
