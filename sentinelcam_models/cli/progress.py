"""Progress for long work, on stderr (stdout stays the command's answer): a bar with bytes and
rate for copies, uploads and hashing, a spinner for a step that reports only at its end (a remote
store call, each version a verify re-hashes). Shown on a terminal only (or with
SENTINELCAM_PROGRESS=1, for logs and tests); elsewhere the commands print their usual lines and
nothing else."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..store import progress as store_progress
from ..store.atomic import LockWait

FORCE_ENV = "SENTINELCAM_PROGRESS"


class AverageRate(ProgressColumn):
    """Bytes per second since the start (rsync reports about once a second: a rate from the last
    two reports alone would be nonsense after a jump)."""

    def render(self, task: Task) -> Text:
        elapsed = (task.finished_time if task.finished else task.elapsed) or 0.0
        if elapsed <= 0 or not task.completed:
            return Text("?", style="progress.data.speed")
        rate = task.completed / elapsed
        for unit in ("B", "kB", "MB", "GB"):
            if rate < 1000 or unit == "GB":
                return Text(f"{rate:.1f} {unit}/s", style="progress.data.speed")
            rate /= 1000
        return Text("?")  # not reached


def _console() -> Console:
    forced = os.environ.get(FORCE_ENV) == "1"
    return Console(stderr=True, force_terminal=True if forced else None, highlight=False)


def _shown(console: Console) -> bool:
    return console.is_terminal


def tree_size(path: Path) -> int:
    """Bytes in the regular files under ``path`` (links not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                stat = os.lstat(os.path.join(root, name))
                if not os.path.islink(os.path.join(root, name)):
                    total += stat.st_size
    return total


@contextlib.contextmanager
def transfer(
    label: str, total: int, kind: str = store_progress.COPY
) -> Iterator[Callable[[int], None]]:
    """A bytes bar (size, rate, time left); yields ``advance(bytes)``. The store's own work of
    ``kind`` (copies and uploads, or hashing) on this machine advances it too."""
    console = _console()
    if not _shown(console):
        yield lambda _n: None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        AverageRate(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with bar, _lock_notes(bar):
        task = bar.add_task(label, total=total or None)

        def advance(count: int) -> None:
            bar.advance(task, count)

        with store_progress.listening(advance, kind):
            yield advance


@contextlib.contextmanager
def working(label: str) -> Iterator[None]:
    """A spinner with the time elapsed, for a step that answers only when done."""
    console = _console()
    if not _shown(console):
        yield
        return
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar, _lock_notes(bar):
        bar.add_task(label, total=None)
        yield


@contextlib.contextmanager
def _lock_notes(bar: Progress) -> Iterator[None]:
    """ "waiting for the store lock ..." printed above the bar, not through it."""
    original = LockWait.report
    LockWait.report = staticmethod(lambda message: bar.console.print(message, markup=False))  # type: ignore[method-assign]
    try:
        yield
    finally:
        LockWait.report = original  # type: ignore[method-assign]
