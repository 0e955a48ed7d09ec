"""The checkout's config.py (run by pyinfra's CLI, and by every command that deploys, before the
inventory): a run's process ends without walking its heap in a last garbage collection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "config.py"

# A reference cycle with a finalizer, made garbage while collection is off: only the collections
# the interpreter runs on its way out can finalize it (CPython 3.11 on: finalize_modules collects
# whether collection is enabled or not). config.py runs as pyinfra runs it (a file
# executed; here as often as asked: a command can deploy more than once); gc.freeze says when
# it is called.
CHILD = """
import gc, runpy, sys
gc.disable()
freeze = gc.freeze
def said_freeze():
    sys.stdout.write("heap frozen\\n")
    freeze()
gc.freeze = said_freeze
for _ in range(int(sys.argv[2])):
    runpy.run_path(sys.argv[1])
class Cycle:
    def __del__(self):
        sys.stdout.write("finalized at exit\\n")
cycle = Cycle()
cycle.itself = cycle
del cycle
"""


def child(times: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(CONFIG), str(times)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_a_run_ends_without_a_last_garbage_collection():
    assert child(0) == ["finalized at exit"]  # what the interpreter does by itself
    assert child(1) == ["heap frozen"]
    assert child(2) == ["heap frozen"]  # once, however many runs read config.py
