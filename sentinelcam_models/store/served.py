"""What each node key may read: per-role served roots of hard links (issue 23.3).

A node's key on a datasink runs ``rrsync -ro STORE/.served/ROLE`` (core/trust.py), never the store
root. ``STORE/.served/ROLE/MODEL/VERSION/`` holds hard links to the store's files of exactly the
versions hosts of that role pull from this datasink (core/serving.py says which), plus
``coral_packages/`` where Coral hosts pull. So an outpost's key never reaches face data, and no key
reaches an upload in progress (``STORE/.upload-*`` is outside every served root). The store's
version files are never rewritten in place, so a link always has the bytes of its version.

Each version is linked into a hidden directory first and renamed into place; versions no longer
needed are removed. Standard library only (it runs in the store agent on the datasink).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..core import names
from ..core.manifest import MANIFEST
from .safefs import _is_real_dir
from .versions import CORAL_DIR

SERVED_DIR = ".served"
ROOT_NAME = re.compile(r"[a-z]+(\+[a-z]+)*")


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _link_tree(source: Path, target: Path) -> int:
    """Hard-link every regular file under ``source`` into ``target`` (new); links and special files
    are left out (the store refuses them anyway). The number of files linked."""
    count = 0
    target.mkdir(mode=0o755)
    for directory, subdirs, files in os.walk(source, followlinks=False):
        rel = Path(directory).relative_to(source)
        for sub in list(subdirs):
            if _is_real_dir(Path(directory) / sub):
                (target / rel / sub).mkdir(mode=0o755)
            else:
                subdirs.remove(sub)
        for name in files:
            path = Path(directory) / name
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.link(path, target / rel / name, follow_symlinks=False)
                count += 1
    return count


def _place(source: Path, target: Path) -> bool:
    """``target`` becomes a hard-link copy of ``source`` unless it already is (same manifest inode,
    or for coral_packages the same files). True when something changed."""
    marker = MANIFEST if (source / MANIFEST).exists() else None
    if marker and _same_file(source / marker, target / marker):
        return False
    if not marker and _is_real_dir(target):
        have = sorted(os.listdir(target))
        want = sorted(n for n in os.listdir(source) if stat.S_ISREG(os.lstat(source / n).st_mode))
        if have == want and all(_same_file(source / n, target / n) for n in want):
            return False
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fresh = target.parent / f".{target.name}.new"
    stale = target.parent / f".{target.name}.old"
    for leftover in (fresh, stale):
        if os.path.lexists(leftover):
            shutil.rmtree(leftover)
    _link_tree(source, fresh)
    if os.path.lexists(target):
        os.rename(target, stale)
    os.rename(fresh, target)
    if os.path.lexists(stale):
        shutil.rmtree(stale)
    return True


def serve(
    store: Path, roots: Mapping[str, Sequence[str]], coral: Sequence[str] = ()
) -> dict[str, dict[str, int]]:
    """Make ``store/.served/NAME`` hold exactly ``roots[NAME]`` (``model/version`` items present in
    the store) and, for names in ``coral``, ``coral_packages/``. Served roots not named are removed.
    Returns ``{name: {"placed": n, "removed": n}}``."""
    for name, items in roots.items():
        if not ROOT_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a served root name")
        for item in items:
            model, _, version = item.partition("/")
            if not (names.is_model_name(model) and names.is_version(version)):
                raise ValueError(f"{item!r} is not a model/version")
    base = store / SERVED_DIR
    if os.path.lexists(base) and not _is_real_dir(base):
        raise ValueError(f"{base} is not a directory")
    base.mkdir(mode=0o755, exist_ok=True)
    report: dict[str, dict[str, int]] = {}
    for name, items in sorted(roots.items()):
        root = base / name
        root.mkdir(mode=0o755, exist_ok=True)
        placed = removed = 0
        wanted: dict[str, set[str]] = {}
        for item in items:
            model, _, version = item.partition("/")
            if _is_real_dir(store / model / version) and not os.path.islink(store / model):
                wanted.setdefault(model, set()).add(version)
        if name in coral and _is_real_dir(store / CORAL_DIR):
            placed += _place(store / CORAL_DIR, root / CORAL_DIR)
        elif os.path.lexists(root / CORAL_DIR):
            shutil.rmtree(root / CORAL_DIR)
            removed += 1
        for model, versions in sorted(wanted.items()):
            for version in sorted(versions):
                placed += _place(store / model / version, root / model / version)
        for entry in sorted(os.listdir(root)):
            path = root / entry
            if entry == CORAL_DIR:
                continue
            if entry not in wanted:
                _remove(path)
                removed += 1
                continue
            for version in sorted(os.listdir(path)):
                if version not in wanted[entry]:
                    _remove(path / version)
                    removed += 1
        report[name] = {"placed": placed, "removed": removed}
    for entry in sorted(os.listdir(base)):
        if entry not in roots:
            _remove(base / entry)
    return report


def _remove(path: Path) -> None:
    if _is_real_dir(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
