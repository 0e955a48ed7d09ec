"""Change values inside YAML text in place: every other byte (comments, order, quoting, blank
lines, line endings, tuple strings) stays as it was.

PyYAML's composer gives the exact start and end of every node, so an edit replaces exactly one
scalar token, or inserts one ``key: value`` line at the end of an existing block mapping. The
result is parsed again and must equal the original with exactly the requested changes (anything
else is refused). ruamel.yaml is not used: it refuses the ``%YAML 1.0`` directive that SentinelCam's
own config files carry.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from . import names
from .yamlstrict import _PARSE_ERRORS, parsed

KeyPath = tuple[str, ...]
DELETE = object()  # a value that removes the key's line (plain one-line entries only)


class PatchError(ValueError):
    """The edit cannot be made safely; the message says where and why."""


@dataclass(frozen=True)
class _Found:
    parent: yaml.MappingNode
    key: yaml.Node | None
    value: yaml.Node | None


def compose(text: str) -> yaml.Node | None:
    """The document's nodes, whose marks locate each value in ``text`` (the edits splice there).

    libyaml's marks count bytes where PyYAML's count characters: it composes ASCII text only."""
    try:
        return parsed(lambda loader: yaml.compose(text, Loader=loader), fast=text.isascii())
    except _PARSE_ERRORS as exc:
        raise PatchError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


def _key_matches(node: yaml.Node, part: str) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.value == part


def _find(root: yaml.Node, path: KeyPath) -> _Found:
    node = root
    for depth, part in enumerate(path):
        if not isinstance(node, yaml.MappingNode):
            raise PatchError(f"{'.'.join(path[:depth]) or 'the document'} is not a mapping")
        if node.flow_style:
            raise PatchError(
                f"{'.'.join(path[:depth]) or 'the document'} is a flow mapping ({{...}}); "
                "write it as a block mapping"
            )
        match = [(k, v) for k, v in node.value if _key_matches(k, part)]
        if len(match) > 1:
            raise PatchError(f"{'.'.join(path[: depth + 1])} appears twice")
        if depth == len(path) - 1:
            return _Found(node, *match[0]) if match else _Found(node, None, None)
        if not match:
            raise PatchError(f"{'.'.join(path[: depth + 1])} not found")
        node = match[0][1]
    raise PatchError("empty key path")


def render_scalar(value: str | int | float | bool | None, old_token: str = "") -> str:
    """A YAML scalar for ``value``: plain when safe (paths, versions), else quoted like the old token."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    quote = old_token[:1] if old_token[:1] in ("'", '"') else ""
    if quote == "'" and "'" not in value and value.isprintable():
        return f"'{value}'"
    if quote == "" and names.is_safe_path(value):
        return value
    return json.dumps(value)  # a double-quoted YAML scalar


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _last_scalar(node: yaml.Node) -> yaml.Node:
    if isinstance(node, yaml.MappingNode) and node.value:
        return _last_scalar(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value:
        return _last_scalar(node.value[-1])
    return node


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _apply(text: str, root: yaml.Node, path: KeyPath, value: Any) -> tuple[int, int, str]:
    found = _find(root, path)
    where = ".".join(path)
    if found.key is None or found.value is None:
        if value is DELETE:
            return 0, 0, ""
        parent = found.parent
        if not parent.value:
            raise PatchError(
                f"{'.'.join(path[:-1]) or 'the document'} is empty: cannot place {path[-1]} in it"
            )
        indent = parent.value[0][0].start_mark.column
        at = _line_end(text, _last_scalar(parent.value[-1][1]).end_mark.index)
        prefix = "" if at == 0 or text[at - 1] == "\n" else _newline(text)
        return at, at, f"{prefix}{' ' * indent}{path[-1]}: {render_scalar(value)}{_newline(text)}"
    if not isinstance(found.value, yaml.ScalarNode):
        raise PatchError(
            f"{where} holds a {'list' if isinstance(found.value, yaml.SequenceNode) else 'mapping'}, "
            "not a value"
        )
    start, end = found.value.start_mark.index, found.value.end_mark.index
    if value is DELETE:
        line_start = text.rfind("\n", 0, found.key.start_mark.index) + 1
        if found.key.start_mark.line != found.value.end_mark.line:
            raise PatchError(f"{where} spans several lines; remove it by hand")
        return line_start, _line_end(text, end), ""
    token = text[start:end]
    if found.value.style in ("|", ">"):
        raise PatchError(f"{where} is a block scalar; write it as a one-line value")
    return start, end, render_scalar(value, token)


def _expected(data: Any, edits: Mapping[KeyPath, Any]) -> Any:
    """What the edited text must read back as. A block mapping whose last key was deleted reads
    back as null (``a:`` with nothing under it), as does an emptied document."""
    expected = json.loads(json.dumps(data, default=str))
    for path, value in edits.items():
        node = expected
        for part in path[:-1]:
            node = node[part]
        if value is DELETE:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return _emptied_to_null(expected)


def _emptied_to_null(value: Any) -> Any:
    if isinstance(value, dict):
        if not value:
            return None
        return {k: _emptied_to_null(v) if isinstance(v, dict) else v for k, v in value.items()}
    return value


def _read(text: str) -> Any:
    """The document's data (libyaml's parser when present: it reads the same data faster; the
    splicing above keeps PyYAML's own nodes, whose marks count characters)."""
    return parsed(lambda loader: yaml.load(text, Loader=loader))


def set_values(text: str, edits: Mapping[KeyPath, Any]) -> str:
    """``text`` with each key path set to its value (or removed, for ``DELETE``); nothing else moves.

    Raises PatchError when an edit cannot be made exactly.
    """
    if not edits:
        return text
    root = compose(text)
    if root is None:
        raise PatchError("the document is empty")
    changes = sorted(
        (_apply(text, root, path, value) for path, value in edits.items()), reverse=True
    )
    for (_, end, _), (next_start, _, _) in itertools.pairwise(reversed(changes)):
        if end > next_start:
            raise PatchError("two edits overlap")
    new = text
    for start, end, replacement in changes:
        new = new[:start] + replacement + new[end:]
    try:
        before, after = _read(text), _read(new)
    except _PARSE_ERRORS as exc:
        raise PatchError(f"the edit would break the file: {exc}") from None
    if json.loads(json.dumps(after, default=str)) != _expected(before, edits):
        raise PatchError(
            "the edited text does not read back as the intended change; edit it by hand"
        )
    return new


def get_value(text: str, path: KeyPath) -> Any:
    """The value at ``path`` (parsed), or None when it is absent."""
    node: Any = _read(text)
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
