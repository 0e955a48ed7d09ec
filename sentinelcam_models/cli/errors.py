"""Typed errors to exit codes, in one place: 0 ok, 1 a check failed, 2 bad input or configuration,
3 declined at a confirmation prompt. Every error is one line per problem, never a traceback."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from ..core.problems import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_DECLINED,
    OperatorError,
    Refused,
    one_line,
)
from ..fleet.interrupt import deliver_to_main
from ..paths import REPO_ENV
from .conventions import quiet_third_party


def _lines(text: str) -> list[str]:
    return [one_line(line) for line in text.splitlines() if line.strip()] or [one_line(text)]


class Cli(click.Group):
    """A click group that turns the core's typed errors into lines and exit codes."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        """Usage errors are one line too (click prints usage, a hint and the error otherwise)."""
        deliver_to_main()
        saved = os.environ.get(REPO_ENV)  # set for this command's subprocesses (conventions.py)
        try:
            with quiet_third_party():
                return self._main(args, prog_name, **extra)
        finally:
            if saved is None:
                os.environ.pop(REPO_ENV, None)
            else:
                os.environ[REPO_ENV] = saved

    def _main(self, args: Sequence[str] | None, prog_name: str | None, **extra: Any) -> Any:
        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            click.echo(f"error: {one_line(exc.format_message())}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.exceptions.Abort:
            click.echo("error: aborted; nothing changed", err=True)
            sys.exit(EXIT_DECLINED)
        except click.ClickException as exc:
            click.echo(f"error: {one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Refused as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(exc.exit_code)
        except OperatorError as exc:
            for line in _lines(str(exc)):
                click.echo(f"error: {line}", err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:  # a path the operator gave that cannot be read or written
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {one_line(where + (exc.strerror or str(exc)))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo(
                "error: interrupted; the steps already committed stay "
                "(`sentinelcam-models rollout status` shows a staged rollout to resume or undo)",
                err=True,
            )
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: still one line (the traceback on request)
            if os.environ.get("SENTINELCAM_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"error: internal error: {type(exc).__name__}: {one_line(str(exc))} "
                "(SENTINELCAM_DEBUG=1 shows the traceback)",
                err=True,
            )
            sys.exit(EXIT_CHECK_FAILED)
