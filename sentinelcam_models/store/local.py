"""The version store on this machine: ``{root}/{model}/{version}/`` with a ``MANIFEST.sha256``.

Nodes pull a version only after the deploy has checked it here, so the store must never show a
half-written version, a file the manifest does not name, or a path that leads out of the store.
Every write is built in a hidden directory and renamed into place under the store lock; every read
walks directories by descriptor and opens files with ``O_NOFOLLOW``, so a symlink (or one swapped
in mid-walk) is refused instead of followed. Failures are one-line ``BadInput`` (the input is
wrong; exit 2) or ``CheckFailed`` (a check or a write failed; exit 1) naming model, version and
file.

Standard library only: the store agent runs this module on the datasink with its own python3.
By subject: versions.py (layout, reads, verify, the pre-flight check), publish.py, coralstore.py
(the Coral packages), safefs.py (descriptor-level reads and writes); here cleanup, adopt and the
retention policy, and ``LocalStore``, which has them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..core import names
from ..core.manifest import MANIFEST, format_manifest
from ..core.problems import BadInput, one_line
from ..core.retention import Policy, parse_policy, policy_document
from .atomic import fsync_dir, store_lock, write_atomically
from .coralstore import CoralStore
from .publish import Publishing
from .safefs import (
    _DIR_FLAGS,
    _check_names,
    _describe,
    _failures,
    _format_faults,
    _is_count,
    _is_real_dir,
    _is_regular,
    _newest_mtime,
    _scan,
    _seal,
    _Unsafe,
    _write_new,
)
from .versions import (
    _ADOPT_TMP,
    _LEFTOVER,
    CORAL_DIR,
    CORAL_NEW,
    CORAL_OLD,
    UPLOAD_MAX_AGE,
    UPLOAD_PREFIX,
    AdoptResult,
)


class LocalStore(Publishing, CoralStore):
    """The model store under ``root`` on this machine (the primary datasink)."""

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
