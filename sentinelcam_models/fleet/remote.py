"""The store on the primary datasink, from any machine: the same store code (store/local.py) runs
there, sent with each call as one self-contained program (store/bundle.py), as the service user.

A publish from elsewhere uploads into a hidden directory inside the store (rsync over SSH, as the
service user) and the datasink checks and renames it under the store lock, so a half upload is
never a version.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from ..core import untrusted
from ..core.agentanswers import checked_result
from ..core.problems import BadInput, CheckFailed, OperatorError, one_line
from ..core.settings import HostSettings
from ..store import progress
from ..store.atomic import LockWait
from ..store.bundle import bundle_source
from . import transfer


def service_args(settings: HostSettings, login: str | None) -> dict[str, Any]:
    """pyinfra connector arguments that run a command as the service user."""
    if (login or settings.login_user) == settings.user:
        return {}
    return {"_sudo": True, "_sudo_user": settings.user}


def as_service(host: Any, settings: HostSettings) -> dict[str, Any]:
    """Connector arguments for node work on ``host``: as the service user, whatever SSH logs in as."""
    return service_args(settings, settings.login_user or login_of(host))


def login_of(host: Any) -> str | None:
    """The account SSH logs in as (``ssh_user``, else asked once: pyinfra then uses its default)."""
    user = host.data.get("ssh_user")
    if user:
        return str(user)
    from pyinfra.facts.server import User  # noqa: PLC0415 - only with a live connection

    return host.get_fact(User)


def ensure_connected(host: Any) -> None:
    """Connect a host outside --limit (facts connect on demand; plain commands do not)."""
    if not host.connected:
        host.connect(reason="to reach the model store", raise_exceptions=True)


class RemoteStore:
    """The primary datasink's store over pyinfra's connection to it."""

    def __init__(self, host: Any, settings: HostSettings):
        self.host = host
        self.settings = settings
        self.root = settings.path("sentinelcam_model_registry")
        self.where = f"{settings.name}:{self.root}"
        self._args: dict[str, Any] | None = None

    def connector_args(self) -> dict[str, Any]:
        ensure_connected(self.host)
        if self._args is None:
            self._args = service_args(self.settings, login_of(self.host))
        return self._args

    def call(self, command: str, **arguments: Any) -> Any:
        from pyinfra.api import QuoteString, StringCommand  # noqa: PLC0415

        from facts.shell import PYTHON  # noqa: PLC0415 - pyinfra, only with a live connection

        wait = {"lock_timeout": LockWait.timeout} if LockWait.timeout is not None else {}
        document = json.dumps({"store": self.root, **wait, **arguments})
        _ok, output = self.host.run_shell_command(
            StringCommand(
                *PYTHON, "-c", QuoteString(bundle_source()), command, QuoteString(document)
            ),
            **self.connector_args(),
        )
        text = "\n".join(line.line for line in output if line.buffer_name == "stdout")
        return parse_answer(self.settings.name, self.where, command, arguments, text, output)

    def batch(self, calls: list[tuple[str, dict[str, Any]]], after_sound_check: bool) -> list[Any]:
        """Several commands in one agent run (one round trip): for each command run, its result
        or the exception ``call`` would have raised; the commands the agent did not run (after
        one that failed, or, with ``after_sound_check``, after a check that found a problem)
        are left out."""
        documents = self.call(
            "batch", calls=[[c, a] for c, a in calls], after_sound_check=after_sound_check
        )
        results: list[Any] = []
        for (command, arguments), document in zip(calls, documents, strict=False):
            try:
                results.append(
                    checked_answer(self.settings.name, self.where, command, arguments, document)
                )
            except OperatorError as exc:
                results.append(exc)
        return results

    def upload(self, src: Path) -> str:
        """rsync ``src`` into a new hidden upload directory in the store; its name.

        rsync runs with an argument list (no local shell) and ``--protect-args`` (no remote shell
        splitting), so any directory name a filesystem allows is only ever a path."""
        name = f".upload-{secrets.token_hex(8)}"
        args = self.connector_args()
        argv = transfer.upload_argv(
            str(Path(src).resolve()),
            f"{self.root}/{name}/",
            self.host.data,
            self.host.name,
            args.get("_sudo_user") if args.get("_sudo") else None,
        )
        try:  # rsync's progress advances the caller's bar (store/progress.py listeners)
            code, errors = transfer.run(argv, progress.advance)
        except OSError as exc:
            raise CheckFailed(f"{self.where}: cannot run rsync ({exc})") from None
        if code != 0:
            why = one_line(errors.strip()[-300:])
            raise CheckFailed(f"{self.where}: uploading {one_line(str(src))} failed: {why}")
        return name


def parse_answer(
    host: str, where: str, command: str, arguments: dict, text: str, output: Any = ()
) -> Any:
    """The result in the store agent's one JSON document, parsed with caps and checked against
    what ``command`` answers (core/agentanswers); one line naming the host when it is not."""
    try:
        answer = untrusted.loads(text)
    except untrusted.Untrusted as exc:
        errors = " ".join(line.line for line in output if line.buffer_name == "stderr")[:300]
        raise CheckFailed(
            one_line(
                f"host {host}: the store agent did not answer ({errors or exc or 'no output'})"
            )
        ) from None
    return checked_answer(host, where, command, arguments, answer)


def checked_answer(host: str, where: str, command: str, arguments: dict, answer: Any) -> Any:
    """``command``'s result from its parsed document, or its error raised as the CLI shows it."""
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise CheckFailed(f"host {host}: the store agent's answer is not a store agent document")
    if not answer["ok"]:
        code = answer.get("exit_code", 1)
        code = (
            code if isinstance(code, int) and not isinstance(code, bool) and 0 < code < 256 else 1
        )
        message = one_line(f"{where}: {untrusted.short(answer.get('error'), 2000)}")
        raise BadInput(message) if code == 2 else OperatorError(message, code)
    try:
        return checked_result(command, answer.get("result"), arguments)
    except untrusted.Untrusted as exc:
        raise CheckFailed(
            one_line(f"host {host}: the store agent's answer refused: {exc}")
        ) from None
