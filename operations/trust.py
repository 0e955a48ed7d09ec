"""
Node-to-datasink trust: the service user's SSH key on each node, each node's key authorized on the
datasink it pulls from for nothing but a read-only rsync of the store, and the datasink's host keys
in each node's known_hosts.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

from pyinfra import host, state
from pyinfra.api import QuoteString, StringCommand, operation

from facts.keys import FileText, PublicKey, PublicKeys
from operations.configs import write_command
from sentinelcam_models.core.trust import authorized_keys, backup_path, client_keys, revoked_lines


@operation()
def key(path: str, comment: str):
    """
    Create an ed25519 key pair at ``path`` for the user the operation runs as, unless one exists.

    + path: the private key, e.g. ``/home/ops/.ssh/id_ed25519``
    + comment: the key's comment (names the node)
    """
    if host.get_fact(PublicKey, path=f"{path}.pub"):
        host.noop(f"{path} exists")
        return
    directory = path.rsplit("/", 1)[0]
    yield StringCommand(
        "mkdir",
        "-p",
        QuoteString(directory),
        "&&",
        "chmod",
        "700",
        QuoteString(directory),
        "&&",
        "ssh-keygen",
        "-q",
        "-t",
        "ed25519",
        "-N",
        "''",
        "-C",
        QuoteString(comment),
        "-f",
        QuoteString(path),
    )


@operation()
def authorize_nodes(
    path: str,
    store: str,
    clients: Mapping[str, tuple[str, dict]],
    others: Mapping[str, tuple[str, dict]] | None = None,
    spare: Sequence[tuple[str, str]] = (),
    roots: Mapping[str, str] | None = None,
):
    """
    Authorize each node's key in ``path`` (authorized_keys) for ``rrsync -ro`` of its served root
    only, with ``restrict``. Any other line that authorizes a key the node's service account holds
    (the original's plain lines, whatever their options) is revoked: the file as it was is kept as
    ``path.sentinelcam-before-STAMP`` and each revoked line is reported with its node. Every other
    line stays byte for byte. pyinfra runs an operation again
    when it executes, so the keys read here include those created earlier in the same run.

    + path: the datasink service user's authorized_keys
    + store: the store directory the nodes may read
    + clients: ``{node: (its public key path, connector arguments to read it as its service user)}``
    + others: the inventory's other hosts, the same way: they get no line, and any line
      authorizing a key they hold is revoked
    + spare: the operator's public keys: a node that holds one of them (a copied key pair) does
      not make its lines revoked, so the operator is never locked out
    + roots: ``{node: the directory its key may read}`` (its served root, ``STORE/.served/ROLE``)
    """
    keys: dict[str, tuple[str, str]] = {}
    held: dict[str, list[tuple[str, str]]] = {}
    unreachable: list[str] = []
    for name, (pub, args) in sorted(clients.items()):
        try:
            found = state.inventory.get_host(name).get_fact(PublicKey, path=pub, **args)
        except Exception as exc:  # a node that cannot be reached is skipped, and said so
            host.log(
                f"sentinelcam: cannot read the key of {name} ({type(exc).__name__}); "
                "its current authorization (if any) stays"
            )
            unreachable.append(name)
            continue
        if found:
            keys[name] = found
            directory = pub.rsplit("/", 1)[0]
            held[name] = state.inventory.get_host(name).get_fact(
                PublicKeys, directory=directory, **args
            )
    for name, (pub, args) in sorted((others or {}).items()):
        if name in clients:
            continue
        try:
            held[name] = state.inventory.get_host(name).get_fact(
                PublicKeys, directory=pub.rsplit("/", 1)[0], **args
            )
        except Exception as exc:  # cannot be read: its lines (if any) stay, and that is said
            host.log(
                f"sentinelcam: cannot read the keys of {name} ({type(exc).__name__}); "
                "a line authorizing them (if any) stays"
            )
    spared = set(spare)
    for name in sorted(held):
        if spared & set(held[name]):
            host.log(
                f"sentinelcam: {name} holds one of the operator's keys; lines authorizing it stay"
            )
            held[name] = [key for key in held[name] if key not in spared]
    current = host.get_fact(FileText, path=path)
    new = authorized_keys(current, keys, store, unreachable, held, roots)
    if new == current or (current is None and not new):
        host.noop(f"{len(keys)} node key(s) authorized for a read-only rsync of {store}")
        return
    revoked = revoked_lines(current, client_keys(keys, held))
    if revoked:
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = backup_path(path, stamp)
        for line in revoked:
            instead = (
                "replaced by its restricted line"
                if line.client in keys
                else "it pulls from no store here, so it gets no line"
            )
            host.log(
                f"sentinelcam: revoked {line.describe(path)}; {instead}; the file as it was is "
                f"kept in {backup}"
            )
        yield StringCommand("cp", "-p", QuoteString(path), QuoteString(backup))
    yield write_command(path, new)
