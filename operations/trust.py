"""
Node-to-datasink trust: the service user's SSH key on each node, each node's key authorized on the
datasink it pulls from for nothing but a read-only rsync of the store, and the datasink's host keys
in each node's known_hosts.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyinfra import host, state
from pyinfra.api import QuoteString, StringCommand, operation

from facts.keys import FileText, PublicKey
from operations.configs import write_command
from sentinelcam_models.core.trust import authorized_keys


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
    roots: Mapping[str, str] | None = None,
):
    """
    Authorize each node's key in ``path`` (authorized_keys) for ``rrsync -ro`` of its served root only, with
    ``restrict``; lines this tool does not manage stay byte for byte. pyinfra runs an operation again
    when it executes, so the keys read here include those created earlier in the same run.

    + path: the datasink service user's authorized_keys
    + store: the store directory the nodes may read
    + clients: ``{node: (its public key path, connector arguments to read it as its service user)}``
    + roots: ``{node: the directory its key may read}`` (its served root, ``STORE/.served/ROLE``)
    """
    keys, unreachable = {}, []
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
    current = host.get_fact(FileText, path=path)
    new = authorized_keys(current, keys, store, unreachable, roots)
    if new == current:
        host.noop(f"{len(keys)} node key(s) authorized for a read-only rsync of {store}")
        return
    yield write_command(path, new)
