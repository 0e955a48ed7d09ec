"""
Config files written with exactly the given bytes, atomically, by whoever the caller runs as.

pyinfra's ``files.template``/``files.put`` hand an upload to another user with ``setfacl`` (not on
every Pi) or write as root; the service user writes its own files here, with the content in the
command (configs are a few KB), checked by digest before the rename. A command stages each file
beside its place (scripts/config_stage.sh, no process for printable UTF-8 text), then checks them
all at once and renames each into place (scripts/config_commit.sh): a few processes per command,
not per file.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Sequence
from hashlib import sha256

from pyinfra import host
from pyinfra.api import operation

from facts.keys import FileText
from facts.shell import sequence
from sentinelcam_models.core.names import is_safe_path
from sentinelcam_models.core.untrusted import as_bytes

UNKNOWN = object()


@operation()
def file(dest: str, content: str, current: str | object | None = UNKNOWN):
    """
    Write ``content`` to ``dest`` atomically (temp file, digest check, rename); the mode is kept.

    + dest: absolute path of the config file
    + content: the complete text
    + current: the file's text as the caller already read it (None: absent); read here when not given

    **Example:**

    .. code:: python

        configs.file(dest="/home/ops/sentinel/tasks/GetFaces.yaml", content=text, _sudo=True, _sudo_user="ops")
    """
    if current is UNKNOWN:
        current = host.get_fact(FileText, path=dest)
    if current == content:
        host.noop(f"{dest} is up to date")
        return
    yield write_command(dest, content)


COMMIT = ("config_commit.sh", {"what": "config files"})


def write_command(dest: str, content: str):
    """One file written as ``file`` writes it: staged, checked, renamed into place."""
    return sequence([stage(dest, content), COMMIT])


def stage(dest: str, content: str) -> tuple[str, dict[str, str]]:
    """config_stage.sh and its inputs: ``content``'s exact bytes (``untrusted.as_bytes``: text read
    from a node in any encoding goes back byte for byte) and their digest. The bytes travel as they
    are when they are printable UTF-8 text (pyinfra prints commands with ``-vv``: nothing from a
    node reaches the terminal raw) no longer quoted than in base64, else in base64."""
    if not is_safe_path(dest):  # config_commit.sh splits the staged names on whitespace
        raise ValueError(f"not a safe absolute path for a config file: {dest!r}")
    data = as_bytes(content)
    packed = base64.b64encode(data).decode("ascii")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    plain = (
        text is not None
        and all(c.isprintable() or c in "\n\t" for c in text)
        # quoted twice under sudo: a quote costs 17 bytes of the 128 KiB a command may have
        and len(shlex.quote(shlex.quote(text))) <= len(packed) + 64
    )
    return (
        "config_stage.sh",
        {
            "what": dest,
            "dest": dest,
            "digest": sha256(data).hexdigest(),
            "text": text if plain and text is not None else "",
            "content": "" if plain else packed,
        },
    )


@operation()
def files(
    writes: Sequence[tuple[str, str, str | None]],
    then: Sequence[tuple[str, dict[str, str]]] = (),
):
    """
    Write several config files in one command, each as ``file`` does (temp file, digest check,
    rename; the mode is kept), in the order given; none is renamed unless all were written as
    given.

    + writes: ``(dest, content, current)`` per file; ``current`` is the file's text as the caller
      read it (None: absent); files whose content is current are left alone
    + then: shipped scripts and their inputs run after the writes, in the same command (a gate
      with nothing to judge: its passed record, ``health.passed_record``)

    **Example:**

    .. code:: python

        configs.files(
            name="Sentinel task files",
            writes=[("/home/ops/sentinel/tasks/GetFaces.yaml", text, old_text), ...],
            _sudo=True, _sudo_user="ops",
        )
    """
    todo = [(dest, content) for dest, content, current in writes if current != content]
    if len({dest for dest, _ in todo}) < len(todo):
        raise ValueError(f"a config file given twice: {[dest for dest, _ in todo]}")
    if not todo and not then:
        host.noop(f"{len(writes)} file(s) up to date")
        return
    staged = [stage(dest, content) for dest, content in todo]
    yield sequence([*staged, COMMIT, *then] if staged else list(then))
