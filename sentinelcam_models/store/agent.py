"""The store agent: the datasink side of every remote store operation, one command per run.

The CLI and the deploy reach the store on the primary datasink over SSH, where neither this
project nor any third-party library is installed, so they send this module (``bundle``) and run

    python3 -I -S -c "$PROGRAM" COMMAND '{"store": "/home/ops/sentinelcam/model_registry", ...}'

Arguments travel as one JSON object and are read strictly; the answer is exactly one JSON
document on stdout, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "<one line>",
"exit_code": n}``, and the process exits with that code. A check that finds a problem (verify,
check) is a result, not an error. No traceback reaches the caller: an unexpected exception is
one line with its type, exit 1. Standard library only.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ..core.problems import EXIT_CHECK_FAILED, BadInput, OperatorError, one_line
from ..core.retention import Policy, parse_policy
from .atomic import LockWait, store_lock
from .local import LocalStore
from .served import serve

EXIT_INTERRUPTED = 130
_MISSING = object()


class Args:
    """One command's JSON arguments; every key must be known, every value of its type."""

    def __init__(self, command: str, data: dict, known: set[str]):
        unknown = sorted(set(data) - known - {"store"})
        if unknown:
            raise BadInput(
                one_line(
                    f"{command}: unknown argument {unknown[0]!r} "
                    f"(known: {', '.join(sorted(known | {'store'}))})"
                )
            )
        self.command = command
        self.data = data

    def _get(self, key: str, default: object) -> object:
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise BadInput(f"{self.command}: argument {key!r} is missing")
        return default

    def _bad(self, key: str, what: str) -> BadInput:
        return BadInput(
            one_line(f"{self.command}: argument {key!r} must be {what}, not {self.data.get(key)!r}")
        )

    def text(self, key: str) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str) or not value:
            raise self._bad(key, "a string")
        return value

    def path(self, key: str, default: object = _MISSING) -> Path | None:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or not value.startswith("/"):
            raise self._bad(key, "an absolute path")
        return Path(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def count(self, key: str, default: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._bad(key, "a whole number >= 0")
        return value

    def strings(self, key: str, default: object = _MISSING) -> list[str]:
        value = self._get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(key, "a list of strings")
        return value

    def string_map(self, key: str) -> dict[str, str]:
        value = self._get(key, _MISSING)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._bad(key, "an object of strings")
        return value

    def required_files(self, key: str) -> dict[str, list[str]]:
        """model -> files its configs name."""
        value = self._get(key, {})
        if not isinstance(value, dict) or not all(
            isinstance(files, list) and all(isinstance(f, str) for f in files)
            for files in value.values()
        ):
            raise self._bad(key, "an object of model -> list of file names")
        return value

    def raw(self, key: str, default: object = _MISSING) -> object:
        return self._get(key, default)


def _exists(store: LocalStore, args: Args) -> object:
    return store.exists()


def _versions(store: LocalStore, args: Args) -> object:
    return [asdict(v) for v in store.versions(args.text("model"))]


def _verify(store: LocalStore, args: Args) -> object:
    result = store.verify(args.text("model"), args.text("version"), args.flag("deep", False))
    return {**asdict(result), "ok": result.ok, "lines": result.lines()}


def _check(store: LocalStore, args: Args) -> object:
    return store.check(args.strings("wanted"), args.required_files("required"))


def _policy(args: Args) -> Policy:
    inline, file = args.raw("policy", None), args.path("policy_file", None)
    if (inline is None) == (file is None):
        raise BadInput(f"{args.command}: give exactly one of 'policy' and 'policy_file'")
    if file is not None:
        try:
            inline = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(one_line(f"{file}: {exc}")) from None
    policy, problems = parse_policy(inline)
    if policy is None:
        raise BadInput(one_line(f"{file or 'policy'}: " + "; ".join(problems)))
    return policy


def _cleanup(store: LocalStore, args: Args) -> object:
    policy = _policy(args)
    keep = args.count("keep", policy.keep)
    dry_run = args.flag("dry_run", False)
    log_file = args.path("log_file", None)
    lines: list[str] = []
    freed = store.cleanup(policy, keep, dry_run, lines.append)
    if log_file is not None:  # the weekly timer's log, as the original kept it
        stamp = _dt.datetime.now().isoformat(timespec="seconds")
        with open(log_file, "a", encoding="utf-8") as handle:
            handle.writelines(f"{stamp} {line}\n" for line in lines)
    return {"freed": freed, "log": lines}


def _adopt(store: LocalStore, args: Args) -> object:
    results = store.adopt(
        args.required_files("required"), args.strings("models"), args.flag("dry_run", False)
    )
    return [asdict(r) for r in results]


def _finish_publish(store: LocalStore, args: Args) -> object:
    staged = args.path("staged")
    assert staged is not None
    result = store.finish_publish(
        args.text("model"), args.text("version"), staged, args.strings("required", [])
    )
    return {"path": str(result.path), "manifest_digest": result.manifest_digest}


def _install_coral(store: LocalStore, args: Args) -> object:
    return store.install_coral(args.path("staged", None), args.string_map("files"))


def _coral_files(store: LocalStore, args: Args) -> object:
    return store.coral_files()


def _serve(store: LocalStore, args: Args) -> object:
    roots = args.raw("roots")
    if not isinstance(roots, dict) or not all(
        isinstance(items, list) and all(isinstance(i, str) for i in items)
        for items in roots.values()
    ):
        raise BadInput("serve: argument 'roots' must be an object of name -> list of model/version")
    try:
        with store_lock(store.root):
            return serve(store.root, roots, args.strings("coral", []))
    except ValueError as exc:
        raise BadInput(one_line(f"serve: {exc}")) from None


def _write_policy(store: LocalStore, args: Args) -> object:
    path = args.path("path")
    assert path is not None
    return str(store.write_policy(path, args.raw("policy"), args.path("data_path", None)))


MAX_BATCH = 8


def _sound(answer: dict) -> bool:
    """A ``check`` answer that found every version it was asked about, without a problem."""
    result = answer.get("result")
    return (
        answer.get("ok") is True
        and isinstance(result, dict)
        and all(
            isinstance(a, dict) and a.get("digest") and not a.get("problems")
            for a in result.values()
        )
    )


def _batch(store: LocalStore, args: Args) -> object:
    """Several commands in this one run (one round trip for the caller): ``calls`` is a list of
    ``[COMMAND, ARGUMENTS]``; the answer lists each command's own document (what it alone would
    print) in order. The calls after one that failed are not run; with ``after_sound_check``,
    neither are those after a ``check`` that found a version missing or with a problem (the
    deploy's pre-flight serves roots only for a sound store)."""
    calls = args.raw("calls")
    if (
        not isinstance(calls, list)
        or not 0 < len(calls) <= MAX_BATCH
        or not all(
            isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and isinstance(c[1], dict)
            for c in calls
        )
    ):
        raise BadInput(
            f"batch: argument 'calls' must be 1 to {MAX_BATCH} [command, arguments] pairs"
        )
    for command, _arguments in calls:
        if command == "batch" or command not in COMMANDS:
            raise BadInput(one_line(f"batch: unknown command {command!r}"))
    sound_only = args.flag("after_sound_check", False)
    answers: list[dict] = []
    for command, arguments in calls:
        answers.append(_document(functools.partial(_call, store, command, arguments)))
        if not answers[-1]["ok"] or (sound_only and command == "check" and not _sound(answers[-1])):
            break
    return answers


def _call(store: LocalStore, command: str, data: dict) -> object:
    handler, known = COMMANDS[command]
    return handler(store, Args(command, data, known))


COMMANDS: dict[str, tuple[Callable[[LocalStore, Args], object], set[str]]] = {
    "exists": (_exists, set()),
    "versions": (_versions, {"model"}),
    "verify": (_verify, {"model", "version", "deep"}),
    "check": (_check, {"wanted", "required"}),
    "cleanup": (_cleanup, {"policy", "policy_file", "keep", "dry_run", "log_file"}),
    "adopt": (_adopt, {"required", "models", "dry_run"}),
    "finish_publish": (_finish_publish, {"model", "version", "staged", "required"}),
    "install_coral": (_install_coral, {"staged", "files"}),
    "coral_files": (_coral_files, set()),
    "write_policy": (_write_policy, {"path", "policy", "data_path"}),
    "serve": (_serve, {"roots", "coral"}),
    "batch": (_batch, {"calls", "after_sound_check"}),
}


def run(argv: list[str]) -> object:
    """The result of one command (raises OperatorError for the caller's mistakes)."""
    if len(argv) != 2:
        raise BadInput(f"usage: COMMAND JSON_ARGUMENTS (commands: {', '.join(COMMANDS)})")
    command, raw = argv
    if command not in COMMANDS:
        raise BadInput(one_line(f"unknown command {command!r} (commands: {', '.join(COMMANDS)})"))
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadInput(one_line(f"{command}: arguments are not JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise BadInput(f"{command}: arguments must be a JSON object")
    handler, known = COMMANDS[command]
    if "lock_timeout" in data:  # any command: how long to wait for the store lock
        timeout = data.pop("lock_timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise BadInput(f"{command}: argument 'lock_timeout' must be seconds, not {timeout!r}")
        LockWait.timeout = timeout
    args = Args(command, data, known)
    store = args.path("store")
    assert store is not None
    return handler(LocalStore(store), args)


def _document(result: Callable[[], object]) -> dict:
    """``{"ok": true, "result": ...}``, or the error as one line with its exit code."""
    try:
        return {"ok": True, "result": result()}
    except OperatorError as exc:
        message = "; ".join(line for line in str(exc).splitlines() if line)
        return {"ok": False, "error": one_line(message), "exit_code": exc.exit_code}
    except KeyboardInterrupt:
        return {"ok": False, "error": "interrupted", "exit_code": EXIT_INTERRUPTED}
    except Exception as exc:
        return {
            "ok": False,
            "error": one_line(f"{type(exc).__name__}: {exc}"),
            "exit_code": EXIT_CHECK_FAILED,
        }


def main(argv: list[str]) -> int:
    """Run one command and print its one JSON document; return the exit code."""
    document = _document(lambda: run(argv))
    sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if document["ok"] else int(document["exit_code"])
