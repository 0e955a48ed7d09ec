"""
Config files written with exactly the given bytes, atomically, by whoever the caller runs as.

pyinfra's ``files.template``/``files.put`` hand an upload to another user with ``setfacl`` (not on
every Pi) or write as root; the service user writes its own files here, with the content in the
command (configs are a few KB), checked by digest before the rename.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from hashlib import sha256

from pyinfra import host
from pyinfra.api import operation

from facts.keys import FileText
from facts.shell import script, sequence
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


def write_command(dest: str, content: str):
    """config_write.sh with ``content``'s exact bytes (``untrusted.as_bytes``: text read from a
    node in any encoding goes back byte for byte), in base64, and their digest."""
    return script("config_write.sh", write_assignments(dest, content))


def write_assignments(dest: str, content: str) -> dict[str, str]:
    """config_write.sh's inputs: the content's exact bytes in base64 and their digest."""
    data = as_bytes(content)
    return {
        "what": dest,
        "dest": dest,
        "content": base64.b64encode(data).decode("ascii"),
        "digest": sha256(data).hexdigest(),
    }


@operation()
def files(
    writes: Sequence[tuple[str, str, str | None]],
    then: Sequence[tuple[str, dict[str, str]]] = (),
):
    """
    Write several config files in one command, each as ``file`` does (temp file, digest check,
    rename; the mode is kept), in the order given; the first that fails stops the rest.

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
    if not todo and not then:
        host.noop(f"{len(writes)} file(s) up to date")
        return
    yield sequence(
        [("config_write.sh", write_assignments(dest, content)) for dest, content in todo]
        + list(then)
    )
