"""Read YAML strictly: one problem line (with its line number) instead of any exception.

Duplicate keys are errors, including keys spelled differently but equal as YAML (``1`` and
``1.0``); anchors and aliases are refused (they are how a 4 KB "billion laughs" file grows past
700 MB, and how one edit silently changes two values); text must be UTF-8. Every key path keeps
its line number, so problems name ``file:line``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml

from .problems import Problem

# Errors PyYAML raises on hostile or broken input besides YAMLError (bad dates, deep nesting).
_PARSE_ERRORS = (yaml.YAMLError, ValueError, TypeError, RecursionError, OverflowError)


@dataclass(frozen=True)
class StrictYaml:
    """Plain data from a YAML document plus the line of every key path (``a.b.c`` -> line)."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, key: str) -> int | None:
        return self.lines.get(key)


def decode(file: str, raw: bytes) -> tuple[str | None, list[Problem]]:
    """UTF-8 text of a file's bytes, or the problem naming the first bad byte's line."""
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(file, "", "not UTF-8 text (save the file as UTF-8)", line=line)]


# libyaml's parser (PyYAML's C extension) when the wheel has it: the same documents, read several
# times faster (every deploy reads each node's configs). Broken text is read again by the
# pure-Python parser, whose error messages the problem lines quote.
FAST_LOADER: Any = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None

T = TypeVar("T")


def parsed(read: Callable[[Any], T], fast: bool = True) -> T:
    """``read(loader_class)`` with libyaml's loader (unless ``fast`` is False), then with PyYAML's
    when libyaml refuses the text: PyYAML reads a few documents libyaml does not (``%YAML 1.0``),
    and its errors are the messages problem lines quote."""
    if FAST_LOADER is not None and fast:
        try:
            return read(FAST_LOADER)
        except _PARSE_ERRORS:
            pass
    return read(yaml.SafeLoader)


MAX_DEPTH = 64  # no operator file nests this deep; a hostile one is refused before it is built
PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _event_problem(file: str, text: str, loader_class: Any) -> Problem | None:
    """Refuse, from the event stream alone (nothing is built yet): anchors and aliases, and nesting
    deeper than MAX_DEPTH."""
    depth = 0
    for event in yaml.parse(text, Loader=loader_class):
        line = event.start_mark.line + 1 if event.start_mark else None
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent) or anchor is not None:
            return Problem(
                file,
                "",
                f"YAML anchors and aliases are not allowed (&{anchor} / *{anchor}): "
                "write each value out",
                line=line,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return Problem(file, "", f"nested deeper than {MAX_DEPTH} levels", line=line)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _scalar(
    loader: yaml.SafeLoader, node: yaml.Node, path: str, problems: list[Problem], file: str
) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError:  # a tag safe YAML does not build (!!python/...)
        problems.append(
            Problem(
                file, path, f"the tag {node.tag!r} is not allowed", line=node.start_mark.line + 1
            )
        )
        return None
    except (ValueError, TypeError, OverflowError):
        # e.g. an unquoted 2025-02-30 (resolved as a date, not a real one): keep the text, so the
        # check of that key reports it once, with its line
        return node.value


def _walk(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: str,
    lines: dict[str, int],
    problems: list[Problem],
    file: str,
) -> Any:
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in PLAIN_TAGS:
        problems.append(
            Problem(
                file,
                path,
                f"the tag {node.tag!r} is not allowed (plain lists and mappings only)",
                line=node.start_mark.line + 1,
            )
        )
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(
                    Problem(
                        file,
                        path,
                        "a mapping key must be a plain value, not a list or mapping",
                        line=line,
                    )
                )
                continue
            key = _scalar(loader, key_node, path, problems, file)
            key_path = f"{path}.{key}" if path else str(key)
            if key in result:
                problems.append(
                    Problem(
                        file,
                        key_path,
                        f"duplicate key (first at line {first_line[key]})",
                        line=line,
                    )
                )
                continue
            first_line[key] = line
            lines[key_path] = line
            result[key] = _walk(loader, value_node, key_path, lines, problems, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _walk(loader, item, f"{path}[{i}]", lines, problems, file)
            for i, item in enumerate(node.value)
        ]
    return _scalar(loader, node, path, problems, file)


# libyaml refuses a ``%YAML 1.0`` directive ("incompatible YAML document"); PyYAML's own parser
# reads every 1.x document alike (it checks the major version only). SentinelCam's configs say 1.0
# (sentinel.yaml, every task file): libyaml reads them with the directive as 1.1, the same length
# (marks and lines stay), instead of the pure-Python parser at ten times the CPU (a deploy reads
# every sentinel's sentinel.yaml).
_DIRECTIVE_10 = re.compile(r"%YAML 1\.0(?:[ \t]+(?:#[^\r\n]*)?)?")  # the whole line
_PROLOGUE_OTHER = re.compile(r"[ \t]*(?:#[^\r\n]*)?|%[^\r\n]*")  # blank, comment, directive
_DOCUMENT_START = re.compile(r"---(?:[ \t][^\r\n]*)?")


def _for_libyaml(text: str) -> str:
    """``text`` with the ``%YAML 1.0`` directive of its prologue as ``%YAML 1.1``.

    The prologue runs from the text's start (after a BOM) over blank, comment and directive lines
    to the first ``---`` line; without one nothing is a directive and nothing changes.
    """
    if "%YAML 1.0" not in text:
        return text
    start = 1 if text.startswith("\ufeff") else 0
    found = []
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            end = len(text)
        if _DOCUMENT_START.fullmatch(text, start, end):
            break
        if _DIRECTIVE_10.fullmatch(text, start, end):
            found.append(start)
        elif not _PROLOGUE_OTHER.fullmatch(text, start, end):
            return text
        start = end + 1
    else:
        return text
    for at in found:
        text = f"{text[:at]}%YAML 1.1{text[at + 9 :]}"
    return text


def load(file: str, text: str) -> tuple[StrictYaml | None, list[Problem]]:
    """Parse ``text`` (the contents of ``file``); the data and every problem found.

    None means the document could not be read at all (the problems say why).
    """
    fast = _for_libyaml(text)
    try:
        return parsed(
            lambda loader_class: _load(
                file, fast if loader_class is FAST_LOADER else text, loader_class
            )
        )
    except _PARSE_ERRORS as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        return None, [Problem(file, "", f"not valid YAML: {reason}", line=line)]


def _load(file: str, text: str, loader_class: Any) -> tuple[StrictYaml | None, list[Problem]]:
    refused = _event_problem(file, text, loader_class)
    if refused is not None:
        return None, [refused]
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return StrictYaml({}), []
        problems: list[Problem] = []
        lines: dict[str, int] = {}
        data = _walk(loader, node, "", lines, problems, file)
    finally:
        loader.dispose()
    return StrictYaml(data, lines), problems


def load_bytes(file: str, raw: bytes) -> tuple[StrictYaml | None, list[Problem]]:
    text, problems = decode(file, raw)
    if text is None:
        return None, problems
    return load(file, text)
