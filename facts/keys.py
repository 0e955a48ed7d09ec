"""
SSH keys for node-to-datasink trust: a user's public key, and a host's SSH host keys.

.. code:: python

    from facts.keys import PublicKey, HostKeys
    host.get_fact(PublicKey, path="/home/ops/.ssh/id_ed25519.pub")
    host.get_fact(HostKeys)
"""

from __future__ import annotations

import base64

from pyinfra.api import FactBase, QuoteString, StringCommand

from sentinelcam_models.core.trust import public_key
from sentinelcam_models.core.untrusted import as_text


class PublicKey(FactBase[tuple[str, str] | None]):
    """``(type, base64)`` of the public key at ``path``, or None when there is none."""

    def command(self, path: str):
        return StringCommand("cat", QuoteString(path), "2>/dev/null", "||", "true")

    def process(self, output: list[str]) -> tuple[str, str] | None:
        return public_key(output[0]) if output else None


class PublicKeys(FactBase[list[tuple[str, str]]]):
    """Every ``(type, base64)`` public key in ``directory`` (``*.pub``): all the keys a node's
    service account holds there, which the trust deploy revokes wherever they are authorized
    plainly."""

    default = list

    def command(self, directory: str):
        return StringCommand(
            "cat",
            StringCommand(QuoteString(directory), "/*.pub", _separator=""),
            "2>/dev/null",
            "||",
            "true",
        )

    def process(self, output: list[str]) -> list[tuple[str, str]]:
        return sorted({key for line in output[:64] if (key := public_key(line)) is not None})


class HostKeys(FactBase[list[tuple[str, str]]]):
    """Every ``(type, base64)`` SSH host key of the host (``/etc/ssh/ssh_host_*_key.pub``)."""

    default = list

    def command(self):
        return "cat /etc/ssh/ssh_host_*_key.pub 2>/dev/null || true"

    def process(self, output: list[str]) -> list[tuple[str, str]]:
        return sorted({key for line in output if (key := public_key(line)) is not None})


class FileText(FactBase[str | None]):
    """A small text file's exact content (base64 on the wire), or None when it is absent. Bytes that
    are not UTF-8 stay as they are (``untrusted.as_text``): written back, every line the tool does
    not manage is byte for byte what it was."""

    def command(self, path: str):
        # "+<base64>" for a file (an empty one included), "-" when there is none.
        return StringCommand(
            "if",
            "[",
            "-f",
            QuoteString(path),
            "];",
            "then",
            "printf",
            "+;",
            "base64",
            "-w0",
            "<",
            QuoteString(path),
            ";",
            "echo;",
            "else",
            "echo",
            "-;",
            "fi",
        )

    def process(self, output: list[str]) -> str | None:
        value = "".join(output).strip()
        if not value.startswith("+"):
            return None
        return as_text(base64.b64decode(value[1:]))
