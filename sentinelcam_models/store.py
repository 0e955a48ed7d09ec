"""The version store on the primary datasink: ``{store}/{model}/{version}/`` with a manifest.

Every version directory holds ``MANIFEST.sha256`` in ``sha256sum`` format (relative paths, sorted,
every file), so a node checks a copy with ``sha256sum -c`` and no Python. Versions are written into a
temporary sibling and renamed into place, so a crash never leaves a half version.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import names
from .problems import OperatorError

MANIFEST = "MANIFEST.sha256"
LOCK_FILE = ".lock"
CORAL_DIR = "coral_packages"
CHUNK = 1 << 20
# Store files get an mtime derived from their content: a file unchanged between two versions has
# the same size, mode and mtime in both, so a node's `rsync --link-dest` hard-links it instead of
# copying it (rsync links only files whose attributes match, whatever their checksum).
CONTENT_EPOCH = 946_684_800  # 2000-01-01


def content_mtime(digest: str) -> int:
    return CONTENT_EPOCH + int(digest[:8], 16) % (20 * 365 * 86400)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def store_lock(store: Path, shared: bool = False):
    """Serialise writers of the store (publish, cleanup); readers may share."""
    store.mkdir(parents=True, exist_ok=True)
    with open(store / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def manifest_text(entries: dict[str, str]) -> str:
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(entries.items()))


def parse_manifest(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, _, rel = line.partition("  ")
        entries[rel.lstrip("*")] = digest
    return entries


def walk_files(root: Path) -> list[str]:
    """Relative paths of every regular file under root; symlinks and special files refused."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                raise OperatorError(f"{full}: symlinks are refused (copy the file itself)")
            if name in filenames and not full.is_file():
                raise OperatorError(f"{full}: not a regular file")
            if any(c in rel for c in "\n\\") or not all(names.PLAIN_FILE_NAME.match(part) for part in rel.split("/")):
                raise OperatorError(f"{full}: file names must be plain (letters, digits, . _ + -)")
        for name in filenames:
            found.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(found)


def version_dir(store: Path, model: str, version: str) -> Path:
    if not names.is_model_name(model):
        raise OperatorError(f"{model!r}: model names must match [a-z0-9_]+", exit_code=2)
    if not names.is_version(version):
        raise OperatorError(f"model {model}: {names.describe_version_error(version)}", exit_code=2)
    return store / model / version


def publish(store: Path, model: str, src: Path, version: str | None = None) -> Path:
    """Copy ``src`` into the store as a new version; return its directory."""
    version = version or _dt.date.today().isoformat()
    target = version_dir(store, model, version)
    src = Path(src)
    if not src.is_dir():
        raise OperatorError(f"{src}: source is not a directory", exit_code=2)
    files = [f for f in walk_files(src) if f != MANIFEST]
    if not files:
        raise OperatorError(f"{src}: source directory holds no files", exit_code=2)
    with store_lock(store):
        if target.exists():
            raise OperatorError(f"{model}/{version} already exists in {store}; versions are never overwritten (publish a new date)")
        staging = target.parent / f".{version}.publish-{os.getpid()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        try:
            entries = {}
            for rel in files:
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src / rel, dest)
                os.chmod(dest, 0o644)
                entries[rel] = sha256_file(dest)
                os.utime(dest, (content_mtime(entries[rel]),) * 2)
            (staging / MANIFEST).write_text(manifest_text(entries))
            for dirpath, _, _ in os.walk(staging):
                os.chmod(dirpath, 0o755)
            _fsync_tree(staging)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(Path(dirpath) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


@dataclass
class VerifyResult:
    model: str
    version: str
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.altered or self.error)

    def lines(self) -> list[str]:
        where = f"{self.model}/{self.version}"
        if self.error:
            return [f"{where}: {self.error}"]
        out = [f"{where}: missing {rel}" for rel in self.missing]
        out += [f"{where}: extra {rel} (not in {MANIFEST})" for rel in self.extra]
        out += [f"{where}: altered {rel} (sha256 differs from {MANIFEST})" for rel in self.altered]
        return out or [f"{where}: ok"]


def verify_version(store: Path, model: str, version: str) -> VerifyResult:
    result = VerifyResult(model, version)
    directory = version_dir(store, model, version)
    if not directory.is_dir():
        result.error = "not in the store"
        return result
    manifest = directory / MANIFEST
    if not manifest.is_file():
        result.error = f"has no {MANIFEST}"
        return result
    expected = parse_manifest(manifest.read_text())
    try:
        present = set(walk_files(directory)) - {MANIFEST}
    except OperatorError as exc:
        result.error = str(exc)
        return result
    result.missing = sorted(set(expected) - present)
    result.extra = sorted(present - set(expected))
    result.altered = sorted(rel for rel in set(expected) & present if sha256_file(directory / rel) != expected[rel])
    return result


def manifest_digest(store: Path, model: str, version: str) -> str | None:
    """sha256 of the version's manifest: the identity nodes compare against."""
    manifest = version_dir(store, model, version) / MANIFEST
    try:
        return sha256_bytes(manifest.read_bytes())
    except OSError:
        return None


@dataclass(frozen=True)
class StoredVersion:
    model: str
    version: str
    size: int
    published: float
    has_manifest: bool


def models_in_store(store: Path) -> list[str]:
    if not store.is_dir():
        return []
    return sorted(p.name for p in store.iterdir() if p.is_dir() and p.name != CORAL_DIR and names.is_model_name(p.name))


def versions_in_store(store: Path, model: str) -> list[StoredVersion]:
    """Every complete-looking version directory of a model, newest first."""
    base = store / model
    if not base.is_dir():
        return []
    out = []
    for entry in base.iterdir():
        if not entry.is_dir() or not names.is_version(entry.name):
            continue
        size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        out.append(StoredVersion(model, entry.name, size, entry.stat().st_mtime, (entry / MANIFEST).is_file()))
    return sorted(out, key=lambda v: v.version, reverse=True)
