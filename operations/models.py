"""
Install model versions on nodes: pulled from the primary datasink, verified, renamed into place.

A version directory only ever appears complete and verified: the node pulls into a hidden staging
directory beside the target (hard-linking files unchanged from a version it already holds), checks
the store's manifest with ``sha256sum -c`` and renames the staging directory into place. A pull that
dies halfway leaves only the staging directory, which the next run resumes.
"""

from __future__ import annotations

import re

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from facts.models import Facelist, installed_models

SSH_OPTIONS = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=15"

# rsync exit codes worth another try: the datasink's sshd dropped or refused the connection
# (MaxStartups: "kex_exchange_identification", exit 12/255), or a socket/timeout error.
TRANSIENT_RSYNC_CODES = "5|10|12|30|35|255"

# Shell helpers shared by the pulls: `try CMD…` retries transient failures with jittered backoff.
_RETRY = r"""
try() {
  i=0
  while :; do
    "$@" && return 0
    rc=$?
    case $rc in """ + TRANSIENT_RSYNC_CODES + r""") ;; *) return $rc ;; esac
    i=$((i + 1))
    [ "$i" -lt "$tries" ] || return $rc
    j=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
    sleep $((i + j % (2 * i + 1)))
  done
}
fail() { echo "sentinelcam: $what: $1" >&2; exit 1; }
"""

_INSTALL = r"""
mkdir -p "$dir" && cd "$dir" || fail "cannot create $dir"
stg=".$v.partial"
mkdir -p "$stg" || fail "cannot create staging directory"
# Node-owned files carry over from an existing copy of this version: never overwritten.
for f in $linked; do
  if [ -e "$v/$f" ] && [ ! -e "$stg/$f" ]; then cp -p "$v/$f" "$stg/$f" || fail "cannot keep $f"; fi
done
excl=''; for f in $linked; do excl="$excl --exclude=$f"; done
try rsync -a --checksum --delete --stats $excl ${link:+--link-dest=../$link} -e "$ssh" "$src" "$stg/" \
  || fail "pull from the datasink failed (rsync exit $?)"
if [ -n "$linked" ]; then
  inc=''; for f in $linked; do inc="$inc --include=$f"; done
  try rsync -a --ignore-existing --stats $inc --exclude='*' -e "$ssh" "$src" "$stg/" \
    || fail "pull of node-owned files failed (rsync exit $?)"
fi
got=$(sha256sum < "$stg/MANIFEST.sha256" | cut -c1-64)
[ "$got" = "$digest" ] || fail "store manifest changed during the deploy (expected $digest, got $got)"
# Node-owned files are the node's own working state: they are left out of the check.
(cd "$stg" && grep -Ev "$skip" MANIFEST.sha256 | sha256sum -c --quiet --strict -) \
  || fail "verification against MANIFEST.sha256 failed"
if [ -e "$v" ]; then
  rm -rf ".$v.old" && mv -T "$v" ".$v.old" && mv -T "$stg" "$v" && rm -rf ".$v.old"
else
  mv -T "$stg" "$v"
fi || fail "cannot rename $stg into place"
echo "sentinelcam: installed $what"
"""


def _as_user(user: str | None) -> dict:
    """Run as the service user when SSH logs in as someone else, so files are theirs."""
    if user and host.data.get("ssh_user") not in (None, user):
        return {"_sudo": True, "_sudo_user": user}
    return {}


def _script(assignments: dict[str, str], body: str, **connector_args) -> StringCommand:
    bits: list = []
    for name, value in assignments.items():
        bits += [f"{name}=", QuoteString(value), "\n"]
    bits.append(_RETRY + body)
    return StringCommand(*bits, _separator="", **connector_args)


@operation()
def version(
    model: str,
    version: str,
    models_path: str,
    source: str,
    digest: str,
    linked_files: tuple[str, ...] | list[str] = (),
    user: str | None = None,
    tries: int = 6,
):
    """
    Install one model version from the store, verified and atomically.

    + model: model name, e.g. ``face_recognition``
    + version: ``YYYY-MM-DD``
    + models_path: the node's models root; the version lands at ``{models_path}/{model}/{version}``
    + source: rsync source of the store root, ``user@datasink:/path/to/model_registry``
    + digest: sha256 of the store's ``MANIFEST.sha256`` for this version
    + linked_files: node-owned files, copied only if absent and never overwritten or checked
    + user: the user who owns the files (pulls run as this user)
    + tries: attempts per pull when the datasink drops the connection

    Does nothing when the version is present, complete and has the store's manifest digest (and,
    with ``--data verify_models=deep``, its files still match that manifest).

    **Example:**

    .. code:: python

        models.version(
            name="Install face_recognition 2026-02-02",
            model="face_recognition",
            version="2026-02-02",
            models_path="/home/ops/sentinel/models",
            source="ops@data1:/home/ops/sentinelcam/model_registry",
            digest="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        )
    """
    installed = installed_models(host, models_path).get(model, {})
    present = installed.get("versions", {}).get(version)
    if present and present["complete"] and present["digest"] == digest and present.get("intact", True):
        host.noop(f"{model} {version} is installed and matches the store")
        return
    others = sorted(
        (v for v, info in installed.get("versions", {}).items() if v != version and info["complete"]),
        reverse=True,
    )
    skip = "^$" if not linked_files else "  (" + "|".join(re.escape(f) for f in linked_files) + ")$"
    yield _script(
        {
            "what": f"{model} {version}",
            "dir": f"{models_path}/{model}",
            "v": version,
            "src": f"{source}/{model}/{version}/",
            "link": others[0] if others else "",
            "linked": " ".join(linked_files),
            "skip": skip,
            "digest": digest,
            "ssh": SSH_OPTIONS,
            "tries": str(tries),
        },
        _INSTALL,
        **_as_user(user),
    )


@operation()
def staging_cleared(models_path: str, keep: list[str] | tuple[str, ...] = (), user: str | None = None):
    """
    Remove leftovers of interrupted pulls and swaps (``{model}/.{version}.partial``, ``.old``, ``.deleting``).

    + models_path: the node's models root
    + keep: ``model/version`` items being installed in this run, whose ``.partial`` is resumed instead
    + user: the user who owns the files
    """
    doomed = [
        f"{models_path}/{model}/{name}"
        for model, info in sorted(installed_models(host, models_path).items())
        for name in info.get("staging", [])
        if not (name.endswith(".partial") and f"{model}/{name[1:].split('.')[0]}" in keep)
    ]
    if not doomed:
        host.noop("no leftover staging directories")
        return
    yield StringCommand("rm", "-rf", *[QuoteString(path) for path in doomed], **_as_user(user))


_FACELIST = r"""
mkdir -p "$dir" && cd "$dir" || fail "cannot create $dir"
stg=".facelist-$v.partial"
mkdir -p "$stg" || fail "cannot create staging directory"
if [ ! -e "facelist_$v.csv" ] || [ ! -e "facedata_$v.hdf5" ]; then
  try rsync -a --stats --include=facelist.csv --include=facedata.hdf5 --include=MANIFEST.sha256 --exclude='*' \
    -e "$ssh" "$src" "$stg/" || fail "pull from the datasink failed (rsync exit $?)"
  (cd "$stg" && grep -E '  (facelist\.csv|facedata\.hdf5)$' MANIFEST.sha256 | sha256sum -c --quiet --strict -) \
    || fail "verification against MANIFEST.sha256 failed"
  # The datasink's copies are its own once placed: only ever added, never overwritten.
  [ -e "facelist_$v.csv" ] || mv -T "$stg/facelist.csv" "facelist_$v.csv" || fail "cannot place facelist_$v.csv"
  [ -e "facedata_$v.hdf5" ] || mv -T "$stg/facedata.hdf5" "facedata_$v.hdf5" || fail "cannot place facedata_$v.hdf5"
fi
rm -rf "$stg"
ln -sfn "facelist_$v.csv" .facelist_current.tmp && mv -T .facelist_current.tmp facelist_current.csv \
  || fail "cannot switch facelist_current.csv"
"""


@operation()
def facelist(version: str, directory: str, source: str, user: str | None = None, tries: int = 6):
    """
    Give a datasink the face list of a face_recognition version, and point ``facelist_current.csv`` at it.

    + version: face_recognition version
    + directory: where ``facelist_{version}.csv`` and ``facedata_{version}.hdf5`` live
    + source: rsync source of the store root, ``user@datasink:/path/to/model_registry``
    + user: the user who owns the files
    + tries: attempts per pull when the datasink drops the connection

    The versioned files are copied only if absent and never overwritten; the symlink switches
    atomically (rename over the old link).
    """
    state = host.get_fact(Facelist, directory=directory)
    wanted = {f"facelist_{version}.csv", f"facedata_{version}.hdf5"}
    if wanted <= set(state.get("files", [])) and state.get("current") == f"facelist_{version}.csv":
        host.noop(f"face list {version} in place and current")
        return
    yield _script(
        {
            "what": f"face_recognition {version} face list",
            "dir": directory,
            "v": version,
            "src": f"{source}/face_recognition/{version}/",
            "ssh": SSH_OPTIONS,
            "tries": str(tries),
        },
        _FACELIST,
        **_as_user(user),
    )


@operation()
def pruned(models_path: str, keep: dict, configs: list[str], retain: int = 2, user: str | None = None):
    """
    Remove old model versions from a node, keeping what it needs and a few spares.

    + models_path: the node's models root
    + keep: ``{model: [versions]}`` never removed (desired, the registry's previous, pins)
    + configs: the deployed config files; every version they reference is kept too
    + retain: how many other versions to keep per model, newest first
    + user: the user who owns the files

    Runs after the configs are in place, and reads installed versions and config references when
    it executes, so it never removes what a config names.

    **Example:**

    .. code:: python

        models.pruned(
            models_path="/home/ops/sentinel/models",
            keep={"face_recognition": ["2026-02-02", "2025-02-25"]},
            configs=["/home/ops/sentinel/tasks/FaceRecon.yaml"],
        )
    """
    from facts.models import ConfigReferences, InstalledModels

    installed = host.get_fact(InstalledModels, models_path=models_path)
    references = host.get_fact(ConfigReferences, configs=configs)
    doomed = []
    for model, info in sorted(installed.items()):
        referenced = {
            ref[len(models_path) + 1:].split("/")[1]
            for ref in references
            if ref.startswith(f"{models_path}/{model}/")
        }
        protected = set(keep.get(model, [])) | referenced
        others = sorted((v for v in info.get("versions", {}) if v not in protected), reverse=True)
        doomed += [f"{models_path}/{model}/{version}" for version in others[max(retain, 0):]]
    if not doomed:
        host.noop(f"nothing to prune under {models_path}")
        return
    # Rename first, then delete: a version vanishes from its name at once, never half-deleted.
    script = []
    for path in doomed:
        parent, _, version = path.rpartition("/")
        trash = f"{parent}/.{version}.deleting"
        script.append(StringCommand("mv", "-T", QuoteString(path), QuoteString(trash), "&&", "rm", "-rf", QuoteString(trash)))
    yield StringCommand(*[part for command in script for part in (command, "&&")][:-1], **_as_user(user))
