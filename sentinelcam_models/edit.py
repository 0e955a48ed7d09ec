"""Edit the registry and pin files in place: byte for byte except the changed values.

ruamel.yaml finds where each value sits; the edit replaces exactly that token in the original text,
so comments, key order, quoting and blank lines survive. Writes are atomic (temp file + rename)
and serialised by a lock beside the file; the new text is validated before it replaces the old.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

from . import names
from .problems import OperatorError
from .registry import parse_registry


@contextlib.contextmanager
def file_lock(path: Path):
    """Exclusive lock serialising edits of ``path`` (held on a sibling ``.<name>.lock``)."""
    lock = path.parent / f".{path.name}.lock"
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _token_end(line: str, col: int) -> int:
    """End column of the YAML scalar starting at ``col`` (quoted or plain)."""
    quote = line[col] if col < len(line) else ""
    if quote in ("'", '"'):
        end = col + 1
        while end < len(line):
            if line[end] == quote:
                if quote == "'" and end + 1 < len(line) and line[end + 1] == "'":
                    end += 2
                    continue
                if quote == '"' and line[end - 1] == "\\":
                    end += 1
                    continue
                return end + 1
            end += 1
        raise OperatorError(f"unterminated quoted value at column {col + 1}")
    end = line.find(" #", col)
    end = len(line) if end < 0 else end
    return len(line[:end].rstrip())


def _render(value: str | None, old_token: str) -> str:
    if value is None:
        return "null"
    quote = old_token[0] if old_token[:1] in ("'", '"') else '"'
    return f"{quote}{value}{quote}"


def replace_values(text: str, path: tuple[str, ...], changes: dict[str, str | None], file: str) -> str:
    """Replace the values of ``changes`` keys inside the mapping at ``path``; nothing else moves."""
    doc = YAML(typ="rt").load(text)
    node = doc
    for key in path:
        if not hasattr(node, "get") or key not in node:
            raise OperatorError(f"{file}: {'.'.join(path)}: not found")
        node = node[key]
    lines = text.splitlines(keepends=True)
    edits = []
    for key, value in changes.items():
        if key not in node:
            raise OperatorError(f"{file}: {'.'.join(path + (key,))}: not found (add it by hand once)")
        line_no, col = node.lc.value(key)
        line = lines[line_no]
        end = _token_end(line.rstrip("\n"), col)
        edits.append((line_no, col, end, _render(value, line[col:end])))
    for line_no, col, end, new in sorted(edits, reverse=True):
        line = lines[line_no]
        lines[line_no] = line[:col] + new + line[end:]
    return "".join(lines)


@contextlib.contextmanager
def _maybe_locked(path: Path, lock: bool):
    if lock:
        with file_lock(path):
            yield
    else:
        yield


def set_model_versions(registry_file: Path, model: str, current: str, previous: str | None,
                       expect_current: str | None = None, lock: bool = True) -> tuple[str, str]:
    """Set a model's current/previous; return (old text, new text).

    ``expect_current`` guards against a concurrent edit made between reading and locking. Pass
    ``lock=False`` when the caller already holds ``file_lock(registry_file)``.
    """
    if not names.is_version(current) or (previous is not None and not names.is_version(previous)):
        raise OperatorError(f"model {model}: {names.describe_version_error(current)}", exit_code=2)
    with _maybe_locked(registry_file, lock):
        old = registry_file.read_text(encoding="utf-8")
        registry, problems = parse_registry(registry_file, old)
        if problems:
            raise OperatorError("\n".join(str(p) for p in problems), exit_code=2)
        entry = registry.model(model)
        if entry is None:
            raise OperatorError(f"{registry_file}: unknown model {model!r}", exit_code=2)
        if expect_current is not None and entry.current_version != expect_current:
            raise OperatorError(f"{registry_file}: {model} changed meanwhile (current is now {entry.current_version})")
        new = replace_values(old, ("sentinelcam_models", model),
                             {"current_version": current, "previous_version": previous}, str(registry_file))
        _, problems = parse_registry(registry_file, new)
        if problems:
            raise OperatorError("refusing to write an invalid registry: " + "; ".join(str(p) for p in problems), exit_code=2)
        write_atomically(registry_file, new)
        return old, new


def set_pin(pin_file: Path, model: str, version: str | None, lock: bool = True) -> tuple[str | None, str | None]:
    """Pin (or with version None, unpin) a model in a host's data file; return (old, new) text.

    A new file, or a new key, is written plainly; existing text is edited in place.
    """
    pin_file.parent.mkdir(parents=True, exist_ok=True)
    with _maybe_locked(pin_file, lock):
        old = pin_file.read_text(encoding="utf-8") if pin_file.exists() else None
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.indent(mapping=2, sequence=4, offset=2)
        data = yaml.load(old) if old else None
        data = data if data is not None else {}
        if not hasattr(data, "get"):
            raise OperatorError(f"{pin_file}: must be a mapping", exit_code=2)
        pins = data.get("model_version_overrides")
        if version is None:
            if not pins or model not in pins:
                return old, old
            if len(pins) == 1:
                del data["model_version_overrides"]
            else:
                del pins[model]
        else:
            from ruamel.yaml.scalarstring import DoubleQuotedScalarString

            if pins is None:
                data["model_version_overrides"] = pins = {}
            if model in pins and old is not None and len(pins) >= 1:
                new = replace_values(old, ("model_version_overrides",), {model: version}, str(pin_file))
                write_atomically(pin_file, new)
                return old, new
            pins[model] = DoubleQuotedScalarString(version)
        if not data:
            if pin_file.exists():
                pin_file.unlink()
            return old, None
        import io

        buffer = io.StringIO()
        yaml.dump(data, buffer)
        new = buffer.getvalue()
        write_atomically(pin_file, new)
        return old, new
