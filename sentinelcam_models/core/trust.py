"""Node-to-datasink trust, as text: which lines of ``authorized_keys`` and ``known_hosts`` the tool
manages, and how they merge into files other tools also write (every other line stays byte for byte).

A node's key is authorized on a datasink for nothing but a read-only rsync of its store: a forced
``rrsync -ro`` command and ``restrict`` (no pty, no forwarding, no shell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    roots: Mapping[str, str] | None = None,
) -> str:
    """``authorized_keys`` with exactly one restricted line per client (sorted); others untouched.

    ``roots``: client -> the directory its key may read (its served root); a client without one
    reads ``store``.

    A client in ``unreachable`` (its key could not be read this run) keeps the line it has: a node
    that is down while trust is set up must not lose its access until the next run.
    """
    roots = dict(roots or {})
    for path in (store, *roots.values()):
        if not names.is_safe_path(path):
            raise ValueError(f"{path!r} is not a safe path")
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
