"""Run a deploy function under pyinfra's API with a host whose facts the test gives, and read back
the operations it added, in order, each with its commands (pyinfra's own operation tests, one level
up: facts in, operations and commands out). No host is reached; nothing needs root."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from pyinfra.api import Config, FunctionCommand, Inventory, QuoteString, State, StringCommand
from pyinfra.context import ctx_host, ctx_state

from facts.shell import LIBRARY, ROOTS, body

GLOBALS = ("_sudo", "_sudo_user", "_ignore_errors")


def command_text(command: Any) -> Any:
    """A command as a fixture writes it: a shipped script as its quoted inputs ({variable: value,
    "script": name}; a list when the command runs the body once per set of inputs), a python
    program as {"program": name, "argument": its JSON argument}, any other command as its text;
    a windowed command as {"window": [datasink, limit], "command": ...}."""
    if isinstance(command, FunctionCommand):
        inner, datasink, limit = command.args[:3]
        return {"window": [datasink, limit], "command": command_text(inner)}
    if not isinstance(command, StringCommand):
        return str(command)
    bodies = {body(name): name for name in _shipped()}
    texts = [b.obj if isinstance(b, QuoteString) else b for b in command.bits]
    programs = [
        bodies[t] for t in texts if isinstance(t, str) and bodies.get(t, "").endswith(".py")
    ]
    if programs:
        return {"program": programs[0], "argument": json.loads(texts[-1])}
    if body(LIBRARY) not in texts:
        return command.get_raw_value()
    blocks: list[dict[str, Any]] = []
    inputs: dict[str, Any] = {}
    bits = list(command.bits)
    while bits:
        bit = bits.pop(0)
        if isinstance(bit, str) and bit.endswith("=") and len(bits) >= 2 and bits[1] == "\n":
            inputs[bit[:-1]] = bits[0].obj
            bits = bits[2:]
        elif isinstance(bit, str) and bodies.get(bit, LIBRARY) != LIBRARY:
            if bodies[bit] == "config_stage.sh" and "text" in inputs:
                # the file's bytes travel as text or in base64: the fixture names the text
                text, packed = inputs.pop("text"), inputs["content"]
                inputs["content"] = (
                    base64.b64decode(packed).decode("utf-8", "surrogateescape") if packed else text
                )
            blocks.append({**inputs, "script": bodies[bit]})
            inputs = {}
    return blocks[0] if len(blocks) == 1 else blocks


def _shipped() -> list[str]:
    return sorted(
        {
            p.name
            for root in ROOTS
            if root.is_dir()
            for p in root.iterdir()
            if p.suffix in (".sh", ".py")
        }
    )


def run_deploy(
    function: Callable[..., Any],
    name: str,
    facts: Callable[[type, dict[str, Any]], Any],
    data: dict[str, Any] | None = None,
    *args: Any,
) -> list[dict[str, Any]]:
    """``function(host, *args)`` for the host ``name``; ``facts(cls, kwargs)`` answers its facts.
    Returns every operation added: name, commands (when it would change something), arguments."""
    inventory = Inventory(([(name, {"ssh_user": "ops", **(data or {})})], {}))
    state = State(inventory, Config())
    host = inventory.get_host(name)
    host.get_fact = lambda cls, *a, **kw: facts(cls, kw)  # type: ignore[method-assign]
    host.connected = True  # as pyinfra leaves a host it reached (its facts are asked at once)
    with ctx_state.use(state), ctx_host.use(host):
        function(host, *args)
    operations = []
    for op_hash in state.get_op_order():
        meta = state.get_op_meta(op_hash)
        op = state.get_op_data_for_host(host, op_hash)
        with ctx_state.use(state), ctx_host.use(host):
            commands = [command_text(c) for c in op.command_generator()]
        entry: dict[str, Any] = {"name": sorted(meta.names)[0], "commands": commands}
        entry.update({k: op.global_arguments[k] for k in GLOBALS if op.global_arguments.get(k)})
        if op.global_arguments.get("_if"):
            entry["_if"] = True
        operations.append(entry)
    return operations
