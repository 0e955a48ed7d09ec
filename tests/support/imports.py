"""What a Python process imported, from the list ``-X importtime`` writes to its stderr."""

from __future__ import annotations


def imported_modules(stderr: str) -> set[str]:
    """The module names of the ``import time:`` lines in ``stderr`` (other lines are ignored)."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }
