"""Whether a deploy should print its plan: pyinfra's ``--dry`` (nothing runs) or ``--diff``.

pyinfra gives a deploy file ``--diff`` as ``state.config.DIFF`` but no flag for ``--dry``; its CLI
is the only reader of that option, so the command line is read here (a deploy that is not run by
the ``pyinfra`` CLI never prints a plan unless asked with ``--diff``).
"""

from __future__ import annotations

import sys
from typing import Any


def showing_plan(state: Any, argv: list[str] | None = None) -> bool:
    if state is None:
        return False
    args = sys.argv[1:] if argv is None else argv
    return bool(getattr(getattr(state, "config", None), "DIFF", False)) or "--dry" in args
