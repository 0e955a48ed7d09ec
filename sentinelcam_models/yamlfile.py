"""Read YAML strictly: duplicate keys are errors, and every key path keeps its line number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .problems import Problem


class StrictYaml:
    """Plain data from a YAML file plus the line of every key path (``a.b.c`` -> line)."""

    def __init__(self, data: Any, lines: dict[str, int]):
        self.data = data
        self.lines = lines

    def line(self, key: str) -> int | None:
        return self.lines.get(key)


def _scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return loader.construct_object(node, deep=True)


def _walk(loader, node, path: str, lines: dict[str, int], problems: list[Problem], file: str):
    if isinstance(node, yaml.MappingNode):
        result: dict = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node)
            key_path = f"{path}.{key}" if path else str(key)
            line = key_node.start_mark.line + 1
            if key in result:
                problems.append(
                    Problem(file, key_path, f"duplicate key (first at line {lines[key_path]})", line=line)
                )
                continue
            lines[key_path] = line
            result[key] = _walk(loader, value_node, key_path, lines, problems, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _walk(loader, item, f"{path}[{i}]", lines, problems, file)
            for i, item in enumerate(node.value)
        ]
    return _scalar(loader, node)


def load_strict(path: str | Path, text: str | None = None) -> tuple[StrictYaml | None, list[Problem]]:
    """Parse ``path`` (or ``text``); return the data and every problem found."""
    file = str(path)
    try:
        if text is None:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, [Problem(file, "", f"cannot read: {exc.strerror or exc}")]
    loader = yaml.SafeLoader(text)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return StrictYaml({}, {}), []
        lines: dict[str, int] = {}
        data = _walk(loader, node, "", lines, problems, file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(file, "", f"not valid YAML: {reason}", line=line)]
    finally:
        loader.dispose()
    return StrictYaml(data, lines), problems
