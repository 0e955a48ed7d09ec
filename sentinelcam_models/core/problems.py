"""Errors as values: one line per problem, naming the file, the host and the key at fault.

The typed errors carry their exit code, so the CLI maps them to codes in one place:
0 ok, 1 a check failed, 2 bad input or configuration, 3 declined at a confirmation prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_DECLINED = 3


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the operator's input, printable as a single line."""

    file: str
    key: str
    message: str
    host: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.host:
            parts.append(f"host {self.host}")
        if self.key:
            parts.append(self.key)
        return one_line(": ".join(parts) + f": {self.message}")


def one_line(text: str) -> str:
    """Text from files, git or nodes, made safe for one output line (no newlines, no escapes)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class OperatorError(Exception):
    """A message for the operator and the exit code that goes with it."""

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, message: str, exit_code: int | None = None):
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(message)


class BadInput(OperatorError):
    """The operator's input or configuration is wrong; nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class CheckFailed(OperatorError):
    """A check ran and found a difference (verify, drift, a failed deploy step)."""

    exit_code = EXIT_CHECK_FAILED


class Declined(OperatorError):
    """The operator answered no at a confirmation prompt; nothing was changed."""

    exit_code = EXIT_DECLINED


class Refused(BadInput):
    """Validation found problems; every one of them is reported."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
