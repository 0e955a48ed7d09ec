"""The Coral runtime packages in the store (``coral_packages/``): listed with their digests,
installed as a whole directory swapped in, recovered after an interrupted swap. Standard library
only (the store agent runs it)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from ..core import names
from ..core.manifest import MANIFEST, content_mtime, format_manifest, parse_manifest
from ..core.problems import BadInput, CheckFailed, one_line
from .atomic import fsync_dir, store_lock
from .safefs import (
    _DIR_FLAGS,
    _copy_into,
    _failures,
    _holds_exactly,
    _is_real_dir,
    _link_if_same,
    _open_file,
    _sha256_fd,
    _Unsafe,
    _write_new,
)
from .versions import CORAL_DIR, CORAL_NEW, CORAL_OLD, StoreBase


class CoralStore(StoreBase):
    """The store's Coral packages."""

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
