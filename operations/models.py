"""
Model versions on nodes: pulled from a datasink in one session, verified, renamed into place; the
face files a node owns; a datasink's face list; leftover staging; old versions.

A version directory only ever appears complete and verified: the node pulls into a staging tree
beside its models (hard-linking files unchanged from a version it already holds), checks the
store's manifest with ``sha256sum -c`` and renames each version into place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import FunctionCommand, QuoteString, StringCommand, operation

from facts.shell import PYTHON, script, words
from operations.datasink import SSH_OPTIONS, caller_connector_args, in_window
from sentinelcam_models.core.rollout import STAGING_ROOT, Carry, FacelistStep, Prune, Pull


@operation(is_idempotent=False)
def pull(
    items: Sequence[Pull],
    models_path: str,
    source: str,
    port: int = 22,
    node_owned: Sequence[str] = (),
    tries: int = 6,
    window: tuple[str, int] | None = None,
    then: StringCommand | None = None,
    facelist: FacelistStep | None = None,
):
    """
    Pull model versions from a datasink in one rsync/SSH session, verify each, rename each into place.

    + items: the versions to install (``sentinelcam_models.core.rollout.Pull``), all under ``models_path``
    + models_path: the node's models root; a version lands at ``{models_path}/{model}/{version}``
    + source: ``user@address`` of the datasink; its authorized key runs ``rrsync -ro`` on its store
    + port: the datasink's SSH port
    + node_owned: file names the node's services write (kept when a version is reinstalled in place)
    + tries: attempts when the datasink drops the connection (jittered backoff)
    + window: ``(datasink, limit)``: at most ``limit`` hosts of this run pull from it at once
    + then: a command run right after the pull, in the same operation (a filled mirror's served
      roots, ``serve_command``: nodes pull from them in the next operation)
    + facelist: a datasink's face list files to fetch and place too, in the same window (the
      ``facelist`` operation then only switches ``facelist_current.csv``)

    **Example:**

    .. code:: python

        models.pull(
            name="Install models",
            items=[Pull("face_recognition", "2026-02-02", "/home/ops/sentinel/models", "9f86d0…")],
            models_path="/home/ops/sentinel/models",
            source="ops@data1",
            _sudo=True, _sudo_user="ops",
        )
    """
    if not items and facelist is None:
        host.noop("every version is installed and matches the store")
        return
    commands = []
    if items:
        commands.append(_pull_command(items, models_path, source, port, node_owned, tries))
    if facelist is not None:
        commands.append(
            _facelist_command(facelist.version, facelist.directory, source, port, tries, False)
        )
    for command in commands:
        if window is None:
            yield command
        else:
            yield FunctionCommand(
                in_window, (command, window[0], window[1], caller_connector_args()), {}
            )
    if then is not None:
        yield then


def _pull_command(
    items: Sequence[Pull],
    models_path: str,
    source: str,
    port: int,
    node_owned: Sequence[str],
    tries: int,
) -> StringCommand:
    lines = "\n".join(
        f"{i.model} {i.version} {i.digest} {i.link or '-'} {1 if i.keep_node_owned else 0}"
        for i in items
    )
    return script(
        "pull.sh",
        {
            "what": ", ".join(f"{i.model} {i.version}" for i in items),
            "root": models_path,
            "stage": f"{models_path}/{STAGING_ROOT}",
            "src": source,
            "port": str(port),
            "ssh": SSH_OPTIONS,
            "tries": str(tries),
            "owned": words(node_owned),
            "items": lines,
        },
    )


@operation()
def carry_faces(carry: Carry):
    """
    Copy the node's working face files into the face_recognition version it switches to
    (``face_state: carry``); the target's own node-modified copies are archived beside it first.

    + carry: ``sentinelcam_models.core.rollout.Carry`` (model directory, from and to versions, files)
    """
    yield script(
        "faces_carry.sh",
        {
            "what": f"face files {carry.from_version} -> {carry.to_version}",
            "dir": carry.model_dir,
            "from": carry.from_version,
            "to": carry.to_version,
            "files": words(carry.files),
        },
    )


@operation()
def facelist(version: str, directory: str, source: str, port: int = 22, tries: int = 6):
    """
    Give a datasink the face list of a face_recognition version and point ``facelist_current.csv`` at it.

    + version: face_recognition version
    + directory: where ``facelist_{version}.csv`` and ``facedata_{version}.hdf5`` live
    + source: ``user@address`` of the datasink holding the store
    + port: its SSH port
    + tries: attempts when the datasink drops the connection
    """
    yield _facelist_command(version, directory, source, port, tries, True)


def _facelist_command(
    version: str, directory: str, source: str, port: int, tries: int, switch: bool
) -> StringCommand:
    return script(
        "facelist.sh",
        {
            "what": f"face list {version}",
            "dir": directory,
            "v": version,
            "src": source,
            "port": str(port),
            "ssh": SSH_OPTIONS,
            "tries": str(tries),
            "switch": "1" if switch else "0",
        },
    )


@operation()
def clear_staging(paths: Sequence[str]):
    """
    Remove leftovers of interrupted pulls and swaps: only the names the deploy itself creates.

    + paths: ``{models_path}/{model}/.{version}.partial|.old|.deleting`` paths reported by the node
    """
    if not paths:
        host.noop("no leftover staging")
        return
    yield StringCommand("rm", "-rf", "--", *[QuoteString(p) for p in paths])


@operation()
def prune(item: Prune, node_owned: Sequence[str] = ()):
    """
    Remove old versions of one model; node-modified face files are archived beside them first.

    + item: ``sentinelcam_models.core.rollout.Prune`` (models path, model, versions)
    + node_owned: the model's node-owned file names (archived when they differ from the store)
    """
    yield script(
        "prune.sh",
        {
            "what": f"prune {item.model}",
            "root": item.models_path,
            "model": item.model,
            "versions": words(item.versions),
            "owned": words(node_owned),
        },
    )


def serve_command(program: str, store: str, roots: dict, coral: Sequence[str]) -> StringCommand:
    """
    The store agent's ``serve`` command for a mirror: its served roots (``STORE/.served/ROLE``,
    hard links to the versions hosts of each role pull from it), given to ``pull(then=...)``.

    + program: the store agent program (sentinelcam_models.store.bundle.bundle_source())
    + store: the mirror's store directory
    + roots: ``{root name: [model/version, ...]}`` (sentinelcam_models.core.serving.served_roots)
    + coral: root names that get ``coral_packages/``
    """
    document = json.dumps({"store": store, "roots": roots, "coral": list(coral)}, sort_keys=True)
    return StringCommand(*PYTHON, "-c", QuoteString(program), "serve", QuoteString(document))
