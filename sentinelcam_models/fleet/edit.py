"""One edit of the inventory's files: the only way a change or a rollout step writes them.

An edit names every file it will touch before it starts. It locks them all, in one global order
(sorted resolved paths: a pin and a rollout step that share a file can never deadlock or
interleave), checks that the files it read earlier did not change meanwhile, computes and writes
the new texts, commits them in one commit, and logs the outcome. Any failure after the first
write (a write, the commit, Ctrl-C) puts every file back byte for byte before the error goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.problems import OperatorError
from ..store.actionlog import log_action
from ..store.atomic import file_lock, write_atomically
from ..store.git import commit_files

Text = str | None  # None: the file does not exist (or is removed)


def read(path: Path) -> Text:
    return path.read_bytes().decode("utf-8") if path.exists() else None


def write(path: Path, text: Text) -> None:
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)


@dataclass
class Edit:
    """Files to rewrite together, the commit message and the action log entry.

    ``files`` maps each path to a function from its text now (under the lock) to its new text;
    ``expected`` holds the texts a change was computed from (refused when the file moved on).
    """

    message: str
    action: str
    files: dict[Path, Callable[[Text], Text]] = field(default_factory=dict)
    expected: dict[Path, Text] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    commit: bool = True
    outcome: str = "changed"  # the action log's outcome on success
    # Called after the write and before the commit (the registry as written, a rollout step's pins
    # shown by the inventory); raising puts every file back.
    check_written: Callable[[], object] | None = None
    # After apply: whether a commit was made (none with commit=False, nothing changed, or only
    # the removal of a file git never had).
    committed: bool = field(default=False, init=False)

    def set(self, path: Path, new: Text, expected: Text | None = None, check: bool = False) -> Edit:
        """Replace ``path`` with ``new`` (when ``check``: only if it still reads ``expected``)."""
        path = path.resolve()
        self.files[path] = lambda _current: new
        if check:
            self.expected[path] = expected
        return self

    def update(self, path: Path, change: Callable[[Text], Text]) -> Edit:
        """Rewrite ``path`` from its text under the lock."""
        self.files[path.resolve()] = change
        return self

    def order(self) -> list[Path]:
        """The global lock order: sorted resolved paths."""
        return sorted(self.files, key=str)

    def apply(self) -> list[Path]:
        """Lock, check, write, commit; the files that changed. Restores every file on failure."""
        paths = self.order()
        with contextlib.ExitStack() as locks:
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)  # the lock file lives beside it
                locks.enter_context(file_lock(path))
            before = {path: read(path) for path in paths}
            for path, text in self.expected.items():
                if before[path] != text:
                    raise OperatorError(f"{path}: changed meanwhile; run the command again")
            after = {path: self.files[path](before[path]) for path in paths}
            changed = [path for path in paths if after[path] != before[path]]
            written: list[Path] = []
            try:
                for path in changed:
                    written.append(path)
                    write(path, after[path])
                if self.check_written is not None and changed:
                    self.check_written()
                if self.commit and changed:
                    self.committed = commit_files(changed, self.message) is not None
            except BaseException as exc:
                for path in reversed(written):
                    write(path, before[path])
                log_action(self.action, f"failed: {exc}", **dict(self.details))
                raise
        log_action(self.action, self.outcome, committed=self.committed, **dict(self.details))
        return changed
