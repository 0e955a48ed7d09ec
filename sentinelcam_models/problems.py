"""Errors as values: one line per problem, naming the file, the host and the key at fault."""

from __future__ import annotations

from dataclasses import dataclass


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
        return ": ".join(parts) + f": {self.message}"


class ConfigError(Exception):
    """Raised with every problem found, so the caller reports them all at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class OperatorError(Exception):
    """A single clear message for the operator (exit code carried along)."""

    def __init__(self, message: str, exit_code: int = 1):
        self.exit_code = exit_code
        super().__init__(message)
