"""Publishing a version into the store: staged beside it, checked, sealed with its manifest and
renamed into place under the store lock. Standard library only (the store agent runs it)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ..core.manifest import MANIFEST, format_manifest
from ..core.problems import BadInput, one_line
from .atomic import fsync_dir, store_lock
from .safefs import (
    _DIR_FLAGS,
    _NEW_FILE_FLAGS,
    _check_names,
    _copy_fd,
    _failures,
    _format_faults,
    _is_real_dir,
    _open_file,
    _private_mode,
    _scan,
    _seal,
    _summary,
    _write_new,
)
from .versions import UPLOAD_PREFIX, PublishResult, StoreBase


class Publishing(StoreBase):
    """Publish: a staged copy, then the checked rename."""

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
