"""The store agent's answers, parsed as strictly as the registry (issue 23.7).

The agent runs on the primary datasink as its service account: what it prints is not trusted. Each
command's result must have the shape the agent writes (store/agent.py), every model, version, file
name and digest passes the same validators as the registry, and texts are one line. A result that
does not is refused with one ``Untrusted`` line per problem (joined), before any value of it
reaches a path, a command or a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import names
from .untrusted import Untrusted, short


def _line(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 4000 and value.isprintable()


def _lines(value: Any) -> bool:
    return isinstance(value, list) and all(_line(v) for v in value)


def _digest(value: Any) -> bool:
    return value is None or names.is_sha256(value)


def _check(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    wanted = set(arguments.get("wanted") or ())
    if not isinstance(result, dict):
        problems.append("check: the result is not an object")
        return
    for item, answer in result.items():
        if item not in wanted:
            problems.append(f"check: {short(item, 60)}: not asked about")
            continue
        if not isinstance(answer, dict) or set(answer) != {"digest", "problems"}:
            problems.append(f"check: {item}: not a digest and problems")
            continue
        if not _digest(answer["digest"]):
            problems.append(
                f"check: {item}: digest {short(answer['digest'], 80)!r} is not a sha256"
            )
        if not _lines(answer["problems"]):
            problems.append(f"check: {item}: problems are not lines of text")


def _coral_files(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if not isinstance(result, dict):
        problems.append("coral_files: the result is not an object")
        return
    for name, digest in result.items():
        if not names.is_plain_file_name(name):
            problems.append(f"coral_files: {short(name, 60)!r} is not a file name")
        elif not _digest(digest):
            problems.append(f"coral_files: {name}: {short(digest, 80)!r} is not a sha256")


def _versions(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if not isinstance(result, list):
        problems.append("versions: the result is not a list")
        return
    for entry in result:
        if (
            not isinstance(entry, dict)
            or set(entry) != {"model", "version", "size", "has_manifest"}
            or entry["model"] != arguments.get("model")
            or not names.is_version(entry["version"])
            or isinstance(entry["size"], bool)
            or not isinstance(entry["size"], int)
            or entry["size"] < 0
            or not isinstance(entry["has_manifest"], bool)
        ):
            problems.append(f"versions: {short(entry, 120)} is not a stored version")


def _finish_publish(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if (
        not isinstance(result, dict)
        or set(result) != {"path", "manifest_digest"}
        or not names.is_sha256(result["manifest_digest"])
        or not _line(result["path"])
    ):
        problems.append(f"finish_publish: {short(result, 160)} is not a path and a sha256")


def _verify(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    keys = {"model", "version", "missing", "extra", "altered", "problems", "ok", "lines"}
    if (
        not isinstance(result, dict)
        or set(result) != keys
        or result["model"] != arguments.get("model")
        or result["version"] != arguments.get("version")
        or not isinstance(result["ok"], bool)
        or not all(_lines(result[k]) for k in ("missing", "extra", "altered", "problems", "lines"))
    ):
        problems.append(f"verify: {short(result, 160)} is not a verification")


def _exists(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if not isinstance(result, bool):
        problems.append("exists: the result is not true or false")


def _cleanup(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if (
        not isinstance(result, dict)
        or set(result) != {"freed", "log"}
        or not _lines(result["log"])
        or isinstance(result["freed"], bool)
        or not isinstance(result["freed"], int)
    ):
        problems.append(f"cleanup: {short(result, 160)} is not a clean-up report")


def _adopt(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if not isinstance(result, list) or not all(
        isinstance(r, dict)
        and set(r) == {"model", "version", "status", "detail"}
        and names.is_model_name(r["model"])
        and names.is_version(r["version"])
        and _line(r["status"])
        and _line(r["detail"])
        for r in result
    ):
        problems.append(f"adopt: {short(result, 160)} is not a list of adoptions")


def _install_coral(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if not isinstance(result, list) or not all(names.is_plain_file_name(r) for r in result):
        problems.append(f"install_coral: {short(result, 160)} is not a list of file names")


def _write_policy(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    if not _line(result):
        problems.append("write_policy: the result is not a path")


def _serve(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    asked = set(arguments.get("roots") or {})
    if (
        not isinstance(result, dict)
        or set(result) != asked
        or not all(
            isinstance(r, dict)
            and set(r) == {"placed", "removed"}
            and all(isinstance(n, int) and not isinstance(n, bool) for n in r.values())
            for r in result.values()
        )
    ):
        problems.append(f"serve: {short(result, 160)} is not a report per served root")


def _batch(result: Any, arguments: Mapping[str, Any], problems: list[str]) -> None:
    """The outer list only: each command's document is read as that command's answer."""
    calls = arguments.get("calls") or ()
    if (
        not isinstance(result, list)
        or not 0 < len(result) <= len(calls)
        or not all(isinstance(d, dict) and isinstance(d.get("ok"), bool) for d in result)
    ):
        problems.append(f"batch: {short(result, 160)} is not one document per command run")


CHECKS: dict[str, Callable[[Any, Mapping[str, Any], list[str]], None]] = {
    "exists": _exists,
    "versions": _versions,
    "verify": _verify,
    "check": _check,
    "cleanup": _cleanup,
    "adopt": _adopt,
    "finish_publish": _finish_publish,
    "install_coral": _install_coral,
    "coral_files": _coral_files,
    "write_policy": _write_policy,
    "serve": _serve,
    "batch": _batch,
}


def checked_result(command: str, result: Any, arguments: Mapping[str, Any]) -> Any:
    """``result`` when it is what the agent's ``command`` answers, else ``Untrusted``."""
    check = CHECKS.get(command)
    if check is None:
        raise Untrusted(f"{short(command, 40)}: no such store agent command")
    problems: list[str] = []
    check(result, arguments, problems)
    if problems:
        raise Untrusted("; ".join(problems))
    return result
