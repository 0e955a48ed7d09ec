"""Shell bodies shipped beside the facts and operations, and the one way commands are built from them.

A body reads its inputs from shell variables assigned in front of it; every value is quoted with
pyinfra's ``QuoteString``, so nothing from the inventory or a node reaches the shell unquoted.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pyinfra.api import QuoteString, StringCommand

ROOTS = (
    Path(__file__).resolve().parent / "scripts",
    Path(__file__).resolve().parent.parent / "operations" / "scripts",
)


@cache
def body(name: str) -> str:
    """The text of ``scripts/<name>`` beside the facts or the operations."""
    for root in ROOTS:
        path = root / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(name)


LIBRARY = "lib.sh"

# How a node runs our standard-library Python programs (node_state.py, the store agent):
# isolated (-I: no PYTHON* variable, no user site directory, not the working directory) and
# without site (-S): nothing installed on the node can hook them, and they start faster.
PYTHON = ("python3", "-I", "-S")


def script(name: str, assignments: dict[str, str], **connector_args) -> StringCommand:
    """``var='value' …`` assignments, the shared library (lib.sh), then the body of ``name``."""
    bits: list = []
    for var, value in assignments.items():
        bits += [f"{var}=", QuoteString(value), "\n"]
    bits += [body(LIBRARY), body(name)]
    return StringCommand(*bits, _separator="", **connector_args)


def sequence(parts: list[tuple[str, dict[str, str]]], **connector_args) -> StringCommand:
    """Several bodies, each after its own assignments, behind one shared library, in one command
    (one round trip); the first that fails stops the rest."""
    bits: list = [body(LIBRARY)]
    for name, assignments in parts:
        for var, value in assignments.items():
            bits += [f"{var}=", QuoteString(value), "\n"]
        bits.append(body(name))
    return StringCommand(*bits, _separator="", **connector_args)


def exact(*bits: Any, **connector_args: Any) -> StringCommand:
    """A command run as it is, without ``sh -c``: under sudo, a sudoers rule can name it exactly.

    pyinfra types ``_shell_executable`` as a string, but None is what makes it pass the command as is.
    """
    no_shell: Any = None
    return StringCommand(*bits, _shell_executable=no_shell, **connector_args)


def words(items) -> str:
    """A space-separated list of validated names or paths (they hold no spaces)."""
    return " ".join(str(item) for item in items)
