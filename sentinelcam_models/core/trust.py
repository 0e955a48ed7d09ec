"""Node-to-datasink trust, as text: which lines of ``authorized_keys`` and ``known_hosts`` the tool
manages, and how they merge into files other tools also write (every other line stays byte for byte).

A node's key is authorized on a datasink for nothing but a read-only rsync of its store: a forced
``rrsync -ro`` command and ``restrict`` (no pty, no forwarding, no shell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import names

RRSYNC = "/usr/bin/rrsync"
KEY_COMMENT = "sentinelcam-pull@"  # authorized_keys lines we manage end with this + host
KNOWN_COMMENT = "sentinelcam-datasink@"  # known_hosts lines we manage end with this + datasink
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)


def public_key(text: str | None) -> tuple[str, str] | None:
    """(type, base64) of an OpenSSH public key line, or None when it is not one."""
    parts = (text or "").strip().split()
    if (
        len(parts) >= 2
        and parts[0] in KEY_TYPES
        and parts[1].replace("+", "").replace("/", "").replace("=", "").isalnum()
    ):
        return parts[0], parts[1]
    return None


def authorized_line(key: tuple[str, str], client: str, root: str) -> str:
    """The managed line: ``restrict`` and a forced read-only rrsync of ``root`` (the client's
    served root, core/serving.py), nothing else."""
    return f'restrict,command="{RRSYNC} -ro {root}" {key[0]} {key[1]} {KEY_COMMENT}{client}'


def _replace_managed(text: str | None, marker: str, lines: Sequence[str]) -> str:
    kept = [
        line
        for line in (text or "").splitlines(keepends=True)
        if marker not in line.rstrip("\r\n").rsplit(" ", 1)[-1]
    ]
    newline = "\r\n" if "\r\n" in (text or "") else "\n"
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += newline
    return "".join(kept) + "".join(line + newline for line in lines)


def authorized_keys(
    text: str | None,
    keys: Mapping[str, tuple[str, str]],
    store: str,
    unreachable: Sequence[str] = (),
    held: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    roots: Mapping[str, str] | None = None,
) -> str:
    """``authorized_keys`` with exactly one restricted line per client (sorted); others untouched,
    except the lines :func:`revoked_lines` finds (another line authorizing a client's key).

    ``held``: every other key a client's service account holds (its ``~/.ssh/*.pub``); lines
    authorizing them are revoked too. A node in ``held`` that is not a client (it pulls from
    another datasink) gets no line here, and lines authorizing its keys are revoked.

    ``roots``: client -> the directory its key may read (its served root); a client without one
    reads ``store``.

    A client in ``unreachable`` (its key could not be read this run) keeps the line it has: a node
    that is down while trust is set up must not lose its access until the next run.
    """
    roots = dict(roots or {})
    for path in (store, *roots.values()):
        if not names.is_safe_path(path):
            raise ValueError(f"{path!r} is not a safe path")
    text = _without(text, {r.number for r in revoked_lines(text, client_keys(keys, held))})
    kept: dict[str, str] = {}
    for line in (text or "").splitlines():
        last = line.rstrip("\r").rsplit(" ", 1)[-1]
        client = last[len(KEY_COMMENT) :] if last.startswith(KEY_COMMENT) else None
        if client is not None and client in unreachable and client not in keys:
            kept[client] = line.rstrip("\r")
    lines = {
        client: authorized_line(key, client, roots.get(client, store))
        for client, key in keys.items()
    }
    lines.update(kept)
    return _replace_managed(text, KEY_COMMENT, [lines[c] for c in sorted(lines)])


def known_hosts(
    text: str | None, datasinks: Mapping[str, tuple[Sequence[str], int, Sequence[tuple[str, str]]]]
) -> str:
    """``known_hosts`` with the host keys of each datasink under every name and port nodes use.

    ``datasinks``: name -> (names/addresses, port, [(type, base64), ...]).
    """
    lines = []
    for datasink in sorted(datasinks):
        hostnames, port, keys = datasinks[datasink]
        shown = ",".join(h if port == 22 else f"[{h}]:{port}" for h in dict.fromkeys(hostnames))
        lines += [f"{shown} {kind} {blob} {KNOWN_COMMENT}{datasink}" for kind, blob in sorted(keys)]
    return _replace_managed(text, KNOWN_COMMENT, lines)


# --- migration from the original's plain lines --------------------------------------------------


@dataclass(frozen=True)
class Revoked:
    """A line of ``authorized_keys`` that the managed line replaces: it authorizes a node's key
    (with any options, or none), so sshd, which uses the first line matching a key, would let that
    node past its restricted line."""

    number: int  # 1-based, in the file as it was
    client: str  # the node whose key it authorizes
    line: str  # without its line ending

    def describe(self, path: str) -> str:
        shown = self.line if len(self.line) <= 100 else self.line[:97] + "..."
        return f"{path} line {self.number} (key of {self.client}): {shown!r}"


def line_key(line: str) -> tuple[str, str] | None:
    """(type, base64) of the key an ``authorized_keys`` line authorizes, or None (blank, comment,
    not a key line). Options come first and may quote spaces and commas (sshd(8) AUTHORIZED_KEYS)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    found = public_key(text)
    if found:
        return found
    quoted, i = False, 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quoted:
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in " \t" and not quoted:
            break
        i += 1
    return public_key(text[i:]) if not quoted else None


def revoked_lines(
    text: str | None, keys: Mapping[str, tuple[str, str] | Sequence[tuple[str, str]]]
) -> list[Revoked]:
    """The lines not managed here that authorize one of a client's keys.

    ``keys``: client -> its key, or every key the client holds (all of them are revoked where they
    are authorized plainly: a node whose service account holds a key could use it).
    """
    owner: dict[tuple[str, str], str] = {}
    for client in sorted(keys):
        held = keys[client]
        for kind, blob in [held] if isinstance(held, tuple) else list(held):
            owner.setdefault((kind, blob), client)
    found = []
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.rstrip("\r")
        if line.rsplit(" ", 1)[-1].startswith(KEY_COMMENT):
            continue
        key = line_key(line)
        if key is not None and key in owner:
            found.append(Revoked(number, owner[key], line))
    return found


def client_keys(
    keys: Mapping[str, tuple[str, str]], held: Mapping[str, Sequence[tuple[str, str]]] | None
) -> dict[str, list[tuple[str, str]]]:
    """client -> its pull key first, then every other key it holds (nodes in ``held`` only: the
    keys they hold)."""
    held = held or {}
    found = {client: list(held[client]) for client in held if client not in keys}
    found.update(
        {client: list(dict.fromkeys([key, *held.get(client, ())])) for client, key in keys.items()}
    )
    return found


def _without(text: str | None, numbers: set[int]) -> str | None:
    if not numbers or text is None:
        return text
    return "".join(
        line
        for number, line in enumerate(text.splitlines(keepends=True), 1)
        if number not in numbers
    )


def backup_path(path: str, stamp: str) -> str:
    """Where the file as it was is kept when lines are revoked: ``authorized_keys.sentinelcam-before-STAMP``."""
    return f"{path}.sentinelcam-before-{stamp}"
